"""The listing's ways (sh+awk, busybox, sh without awk -> the app's Python, Python without a shell) print
byte-identical output over the same folders: one golden file per folder tree (tests/data/golden/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubectl_prefect_rollback import listing, migrations
from kubesim.tools import require_tool
from tests.golden import assert_golden

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
TREES = {p.name: p / "tree.yaml" for p in sorted((DATA / "listings").iterdir())} | {
    p.name: p / "tree.yaml" for p in sorted(GOLDEN.iterdir()) if (p / "tree.yaml").exists()
}


def make_tree(root: Path, tree: dict[str, str]) -> None:
    for rel, content in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode())


def bin_dir(tmp: Path, links: dict[str, str], launcher_shebang: str | None = None) -> str:
    """A PATH of exactly these programs, like an image's /bin (what a way may find)."""
    d = tmp / "bin"
    d.mkdir()
    for name, target in links.items():
        (d / name).symlink_to(target)
    if launcher_shebang:
        (d / listing.LAUNCHER).write_text(f"{launcher_shebang}\nraise SystemExit('not run by the listing')\n")
        (d / listing.LAUNCHER).chmod(0o755)
    return str(d)


def way_argv(way: str, root: Path, tmp: Path) -> tuple[list[str], dict[str, str], str]:
    """argv, env and the expected #via line of one way."""
    script = migrations.listing_script(str(root))
    if way == "sh+awk":
        return ["/bin/sh", "-c", script], {"PATH": "/usr/bin:/bin"}, "#via sh+awk"
    if way == "busybox":
        bb = require_tool("busybox")
        return [bb, "sh", "-c", script], {"PATH": bin_dir(tmp, {"sh": bb, "awk": bb})}, "#via sh+awk"
    if way == "sh-no-awk-shebang":  # the launcher's interpreter, nothing else on PATH
        dash = require_tool("dash")
        path = bin_dir(tmp, {"sh": dash}, f"#!{sys.executable}")
        return [dash, "-c", script], {"PATH": path}, f"#via sh+python {sys.executable}"
    if way == "sh-no-awk-env":  # `#!/usr/bin/env python3` resolved to python3 on PATH
        dash = require_tool("dash")
        path = bin_dir(tmp, {"sh": dash, "python3": sys.executable}, "#!/usr/bin/env python3")
        return [dash, "-c", script], {"PATH": path}, "#via sh+python python3"
    if way == "busybox-no-awk":  # busybox sh only, no awk applet: python3 on PATH
        bb = require_tool("busybox")
        path = bin_dir(tmp, {"sh": bb, "python3": sys.executable})
        return [bb, "sh", "-c", script], {"PATH": path}, "#via sh+python python3"
    if way == "python":  # no shell at all
        return list(listing.python_argv(sys.executable, str(root))), {}, f"#via python {sys.executable}"
    raise AssertionError(way)


WAYS = ["sh+awk", "busybox", "sh-no-awk-shebang", "sh-no-awk-env", "busybox-no-awk", "python"]


def run_way(way: str, root: Path, tmp: Path) -> str:
    argv, env, via = way_argv(way, root, tmp)
    done = subprocess.run(argv, capture_output=True, env=env, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode(errors="replace")
    lines = done.stdout.split(b"\n")
    assert lines[1].decode() == via  # the way that ran says so (-v prints it)
    return b"\n".join([lines[0], *lines[2:]]).replace(str(root).encode(), b"$ROOT").decode("utf-8")


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("case", sorted(TREES))
def test_every_way_prints_the_golden_listing(case: str, way: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_tree(root, yaml.safe_load(TREES[case].read_text(encoding="utf-8")) or {})
    got = run_way(way, root, tmp_path)
    golden = GOLDEN / f"{case}.txt"
    assert_golden(golden, got, update=way == "sh+awk")  # the other ways must print the same bytes


def test_golden_edges_parse_as_awk_reads_them() -> None:
    text = (GOLDEN / "edges.txt").read_text(encoding="utf-8")
    chains = migrations.parse_listing(text)
    nebula = chains["nebula"]
    assert [m.revision for m in nebula.migrations] == ["e0000000000b", "e0000000000a"]
    assert nebula.get("e0000000000a").description == "crlf été"  # the \r is not part of it
    assert nebula.get("e0000000000b").drops == ('op.drop_column("t", "c")',)  # the tab became a space
    assert "c_empty.py" not in text and "hidden" not in text and "notes.txt" not in text
    assert chains["orion"].get("e0000000000d").description == "second line — dash"


def test_python_program_can_be_single_quoted_in_sh() -> None:
    assert "'" not in listing.PY_ARG and "'" not in listing.PY
    assert listing.PY_ARG in migrations.listing_script()


def test_the_listing_fits_an_exec_url() -> None:
    # kubectl exec puts argv in the URL query (Go's QueryEscape: space -> +, the rest %XX); proxies and
    # kubesim (aiohttp) cap a request line at 8 KiB, which also holds the path and the other parameters
    from urllib.parse import quote_plus

    assert len(quote_plus(migrations.listing_script(), safe="")) < 7200


def test_no_python_and_no_awk_fails_loudly(tmp_path: Path) -> None:
    dash = require_tool("dash")
    path = bin_dir(tmp_path, {"sh": dash}, "#!/nonexistent/python3")
    argv = [dash, "-c", migrations.listing_script(str(tmp_path))]
    done = subprocess.run(argv, capture_output=True, text=True, env={"PATH": path})
    assert done.returncode == 127 and "awk: not found, and no Python" in done.stderr and done.stdout == ""
