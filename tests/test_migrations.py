"""The listing script run for real against folder trees, its parser, chains and paths (golden files)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kubectl_prefect_rollback import errors, migrations
from kubectl_prefect_rollback.migrations import Chain, Migration

CASES = Path(__file__).parent / "data" / "listings"
SHELLS = [
    pytest.param(argv, id=argv[0] if len(argv) == 1 else "-".join(argv))
    for argv in (["sh"], ["dash"], ["busybox", "sh"])
    if shutil.which(argv[0])
]


def make_tree(root: Path, tree: dict[str, str]) -> None:
    for rel, content in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def run_listing(shell: list[str], root: Path, **kwargs) -> str:
    script = migrations.listing_script(str(root))
    done = subprocess.run([*shell, "-c", script], capture_output=True, text=True, timeout=30, **kwargs)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def as_data(chain: Chain | None) -> dict | None:
    if chain is None:
        return None
    return {
        "head": chain.head,
        "count": chain.count,
        "newest_file": chain.newest_file,
        "migrations": [
            {k: list(v) if isinstance(v, tuple) else v for k, v in m._asdict().items()}
            for m in chain.migrations
        ],
    }


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_listing(case: str, shell: list[str], tmp_path: Path) -> None:
    make_tree(tmp_path, yaml.safe_load((CASES / case / "tree.yaml").read_text()))
    out = run_listing(shell, tmp_path)
    if (CASES / case / "error.yaml").exists():
        want = yaml.safe_load((CASES / case / "error.yaml").read_text())
        with pytest.raises(getattr(errors, want["error"]), match=want["match"]):
            migrations.parse_listing(out)
        return
    want = yaml.safe_load((CASES / case / "expected.yaml").read_text())
    assert {db: as_data(c) for db, c in migrations.parse_listing(out).items()} == want


def test_listing_is_sorted_and_deterministic(tmp_path: Path) -> None:
    make_tree(tmp_path, yaml.safe_load((CASES / "non_date_names" / "tree.yaml").read_text()))
    outs = {run_listing(["sh"], tmp_path, env={"PATH": "/usr/bin:/bin", "LC_ALL": "en_US.UTF-8"})}
    outs |= {run_listing(shell.values[0], tmp_path) for shell in SHELLS}
    assert len(outs) == 1
    files = [line.split("\t")[2] for line in outs.pop().splitlines() if line.startswith("orion\tfile\t")]
    assert files == sorted(files, key=lambda f: f.encode())


@pytest.mark.parametrize("shell", SHELLS)
def test_listing_never_reads_stdin(shell: list[str], tmp_path: Path) -> None:
    # Pitfall g.4: an empty glob must not leave awk/grep reading stdin (it hangs under `exec -i`).
    (tmp_path / "nebula/migrations/versions/__pycache__").mkdir(parents=True)
    (tmp_path / "orion/migrations/versions").mkdir(parents=True)
    script = migrations.listing_script(str(tmp_path))
    # stdin stays an open pipe that is never written nor closed until the script has finished
    with subprocess.Popen([*shell, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
        out = proc.stdout.read()
    assert out.decode().splitlines()[-1] == migrations.FOOTER


def test_listing_without_awk_fails_loudly(tmp_path: Path) -> None:
    done = subprocess.run(
        ["/bin/sh", "-c", migrations.listing_script(str(tmp_path))],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path)},
    )
    assert done.returncode == 127 and "awk: not found" in done.stderr and done.stdout == ""


def test_listing_script_is_fixed_and_rejects_quotes() -> None:
    assert migrations.listing_script() == migrations.listing_script(migrations.DEFAULT_ROOT)
    assert "/prefect_cloud/src/prefect_cloud" in migrations.listing_script()
    with pytest.raises(errors.BadInput):
        migrations.listing_script("/x'; rm -rf /; '")


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty or malformed"),
        ("Defaulted container server\n", "empty or malformed"),
        (f"{migrations.HEADER}\nnebula\tabsent\tx\n", "incomplete"),
        (f"{migrations.HEADER}\nnebula\tabsent\tx\norion\tabsent\tx\n{migrations.FOOTER}\n", "events"),
        (f"{migrations.HEADER}\nmysql\tabsent\tx\n{migrations.FOOTER}\n", "line 2 is malformed"),
        (f"{migrations.HEADER}\nnebula\tfolder\tx\nnebula\trevision\ta.py\trevision = 'x'\n", "incomplete"),
        (f"{migrations.HEADER}\nnebula\tfolder\tx\nnebula\trevision\ta.py\tr = 1\n#end", "unlisted file"),
    ],
)
def test_parse_listing_malformed(text: str, match: str) -> None:
    with pytest.raises(errors.ParseError, match=match):
        migrations.parse_listing(text)


def listing(*files: tuple[str, str, str], extra: str = "") -> str:
    lines = [migrations.HEADER, "nebula\tfolder\t/v"]
    for name, rev, down in files:
        lines += [
            f"nebula\tfile\t{name}",
            f"nebula\trevision\t{name}\t{rev}",
            f"nebula\tdown_revision\t{name}\t{down}",
        ]
    return "\n".join([*lines, extra, "orion\tabsent\t/o", "events\tabsent\t/e", migrations.FOOTER]).replace(
        "\n\n", "\n"
    )


@pytest.mark.parametrize(
    "rev, down, match",
    [
        ("revision = x", "down_revision = None", "cannot read"),
        ("revision = 12", "down_revision = None", "unexpected value"),
        ("revision = None", "down_revision = None", "must be one string"),
        ("revision = ('a', 'b')", "down_revision = None", "must be one string"),
        ("revision = 'a b'", "down_revision = None", "spaces"),
        ("revision = 'a'", "down_revision = ''", "unexpected value"),
        ("revision = 'a'", "down_revision = __import__('os').system('x')", "cannot read"),
    ],
)
def test_parse_bad_assignments(rev: str, down: str, match: str) -> None:
    with pytest.raises(errors.ParseError, match=f"nebula: a.py: .*{match}"):
        migrations.parse_listing(listing(("a.py", rev, down)))


def test_parse_two_revision_lines() -> None:
    text = listing(
        ("a.py", "revision = 'a'", "down_revision = None"), extra="nebula\trevision\ta.py\trevision = 'b'"
    )
    with pytest.raises(errors.ParseError, match="one `revision` and one `down_revision` line, found 2 and 1"):
        migrations.parse_listing(text)


def test_self_revising_migration_is_a_cycle() -> None:
    with pytest.raises(errors.Refused, match="nebula: the chain has a cycle through a"):
        migrations.parse_listing(listing(("a.py", "revision = 'a'", "down_revision = 'a'")))


def linear(n: int, db: str = "nebula", prefix: str = "r") -> Chain:
    ms = [
        Migration(f"{prefix}{i:011d}", (f"{prefix}{i - 1:011d}",) if i else (), f"{i}.py") for i in range(n)
    ]
    return Chain(db, tuple(reversed(ms)), ms[-1].revision)


def test_path_to_several_steps() -> None:
    chain = linear(5)
    path = chain.path_to("r00000000001")
    assert [m.revision for m in path] == ["r00000000004", "r00000000003", "r00000000002"]
    assert chain.path_to(chain.head) == []
    assert [m.revision for m in chain.path_to("r00000000000")] == [f"r{i:011d}" for i in (4, 3, 2, 1)]
    assert chain.contains("r00000000003") and not chain.contains("nope")
    assert chain.newest_file == "4.py" and chain.count == 5


def test_path_to_not_an_ancestor() -> None:
    with pytest.raises(
        errors.Refused, match="orion: target revision 9e9dadc36797 is not an ancestor of .* r0"
    ):
        linear(3, "orion").path_to("9e9dadc36797")


def test_path_to_across_a_merge(tmp_path: Path) -> None:
    make_tree(tmp_path, yaml.safe_load((CASES / "merge" / "tree.yaml").read_text()))
    chain = migrations.parse_listing(run_listing(["sh"], tmp_path))["nebula"]
    assert [m.revision for m in chain.path_to("m0000000000a")] == ["m000000000ff", "m0000000000b"]
    assert [m.revision for m in chain.path_to("m00000000000")] == [
        "m000000000ff",
        "m0000000000a",
        "m0000000000b",
    ]


def test_destructive_flag() -> None:
    assert Migration("a", (), "a.py", drops=('op.drop_table("x")',)).destructive
    assert not Migration("a", (), "a.py").destructive


@pytest.mark.parametrize(
    "value", ["3fab1acc05c0", "aa1234567890", "0001", "add_tags_2024", "A1B2C3", "x" * 64]
)
def test_validate_revision_accepts(value: str) -> None:
    assert migrations.validate_revision(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "$(rm -rf /)",
        "-1",
        "--help",
        "base",
        "head",
        "HEADS",
        "a b",
        "abc;ls",
        "x" * 65,
        "3fab\n",
        "ab+2",
        "a@head",
    ],
)
def test_validate_revision_refuses(value: str) -> None:
    with pytest.raises(errors.BadInput, match="not a plausible Alembic revision id"):
        migrations.validate_revision(value)


def synthetic_listing(n: int) -> str:
    lines = [migrations.HEADER]
    for db in migrations.DATABASES:
        lines.append(f"{db}\tfolder\t/v")
        for i in range(n):
            name = f"2024_{i:06d}_{db[0]}{i:011x}_m.py"
            down = f'"{db[0]}{i - 1:011x}"' if i else "None"
            lines += [
                f"{db}\tfile\t{name}",
                f"{db}\tdescription\t{name}\tmigration {i}",
                f'{db}\trevision\t{name}\trevision: str = "{db[0]}{i:011x}"',
                f"{db}\tdown_revision\t{name}\tdown_revision: Union[str, None] = {down}",
            ]
    return "\n".join([*lines, migrations.FOOTER, ""])


def test_three_chains_of_1000_parse_and_give_their_paths_down() -> None:
    """At scale (no recursion, nothing quadratic that would time out): how fast is scripts/bench_plan.py's
    to say (a benchmark, not a timed test)."""
    chains = migrations.parse_listing(synthetic_listing(1000))
    paths = {db: c.path_to(c.migrations[-2].revision) for db, c in chains.items()}
    assert set(paths) == set(migrations.DATABASES)
    assert all(len(p) == 998 for p in paths.values())


def test_a_batch_drop_is_named_table_dot_column_in_the_plan(tmp_path: Path) -> None:
    from kubectl_prefect_rollback import show

    make_tree(tmp_path, yaml.safe_load((CASES / "batch_drops" / "tree.yaml").read_text()))
    drops = migrations.parse_listing(run_listing(["sh"], tmp_path))["orion"].get("b00000000001").drops
    assert [show._dropped(d) for d in drops] == [
        "column flow_run.job_variables",
        "column deployment.pull_steps",
        "column work_pool.base_job_template",
        "column log.a",
        "b.drop_column(",  # the column is on a later line: shown as written, still flagged
        "table outside",
    ]
