"""The `fake` fixture: fake kubectl and helm on PATH, a fresh world from tests/data/fake, and helpers.

def test_x(fake):
    fake.fail("helm", r"^upgrade ", stderr="Error: UPGRADE FAILED: boom")
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 5
    assert fake.argvs("helm")[-1][:2] == ["upgrade", "--install"]
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes import state as fstate

DATA = Path(__file__).resolve().parent.parent / "data" / "fake"
REPO = Path(__file__).resolve().parents[2]
SITE = str(Path(yaml.__file__).resolve().parents[1])
ENTRY = Path(sys.executable).parent / "kubectl-prefect_rollback"
# -IS: no site, no environment-driven imports; the fakes need the stdlib (+ yaml, found via `site`).
SCRIPT = """#!{python} -IS
import sys
sys.path.insert(0, {repo!r})
sys.path.append({site!r})
from tests.fakes.{module} import handle
from tests.fakes.state import main
main({prog!r}, handle)
"""
# the fast path (zygote.py): the script's interpreter is the compiled client, which hands the call to
# the zygote; the fake still sees the script path as argv[0]
CLIENT_SCRIPT = "#!{client} {prog} {sock}\n# fake {prog}: forked by tests/fakes/zygote.py (client.c)\n"
ZYGOTE_BOOT = """import sys
sys.path.insert(0, {repo!r})
sys.path.append({site!r})
from tests.fakes.zygote import main
main()
"""
PAUSE = 0.05  # the longest pause between the plugin's looks at the fake cluster (Fake._short_pauses)
CLEAN_ENV = (
    "HELM_NAMESPACE",
    "HELM_KUBECONTEXT",
    "HELM_PLUGIN_NAME",
    "HELM_BIN",
    "HELM_DEBUG",
    "KUBECTL_PATH",
    "NO_COLOR",
    "LD_LIBRARY_PATH_ORIG",
    "PREFECT_ROLLBACK_CHART",
)
KUBECONFIG = """apiVersion: v1
kind: Config
current-context: fake
contexts:
- name: fake
  context: {cluster: fake, user: fake, namespace: customer-managed}
- name: other
  context: {cluster: fake, user: fake, namespace: other-ns}
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: fake
  user: {token: kubeconfig-token-not-for-argv}
"""


def _text(name: str, version: str) -> str:
    return (DATA / "release" / name).read_text().replace("@VERSION@", version)


def initial_state() -> dict[str, Any]:
    sc = yaml.safe_load((DATA / "scenario.yaml").read_text())
    ns = sc["namespace"]
    images = {"server": sc["server_image"], "ui": sc["ui_image"]}
    charts = {
        v: {
            "template": _text("db-migration-job.yaml", v),
            "manifest": _text("manifest.yaml", v),
            "hooks": _text("db-migration-job.yaml", v) + _text("hooks.yaml", v),
        }
        for v in sc["chart_versions"]
    }
    releases = {}
    for name, rel in sc["releases"].items():
        hist = [
            {
                **h,
                "version": str(h["version"]),
                **{k: charts[str(h["version"])][k] for k in ("hooks", "manifest")},
            }
            for h in rel["history"]
        ]
        releases[f"{ns}/{name}"] = {"name": name, "chart": rel["chart"], "history": hist}
    st: dict[str, Any] = {
        "rv": 1000,
        "objects": {},
        "releases": releases,
        "charts": charts,
        "images": {"server": images["server"], "ui": images["ui"]},
        "listings": {
            images["server"].replace("@VERSION@", v): (DATA / f"listing-{v}.txt").read_text()
            for v in sc["chart_versions"]
        },
        "job": {"exit_codes": {}, "running": False, "logs": {}},
        "failures": [],
        "exec_output": {},
    }
    from tests.fakes import fake_kubectl

    current = str(sc["releases"]["customer-managed"]["history"][-1]["version"])
    for name, d in sc["deployments"].items():
        deploy = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "labels": {
                    "app.kubernetes.io/instance": "customer-managed",
                    "app.kubernetes.io/managed-by": "Helm",
                },
            },
            "spec": {
                "replicas": d["replicas"],
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": d["container"],
                                "image": images[d["image"].split("_")[0]].replace("@VERSION@", current),
                            }
                        ]
                    }
                },
            },
        }
        fake_kubectl.store(st, ns, deploy)
        fake_kubectl.sync_pods(st, ns, deploy)
    return st


@functools.cache
def initial_text() -> str:
    """The default world as the state file holds it: built once per process (it is read-only data),
    each test writes its own copy."""
    return json.dumps(initial_state())


def chart_tgz(path: Path, version: str, name: str = "prefect-cloud") -> Path:
    """A real packaged chart: <name>/Chart.yaml (+ a template) in a gzipped tar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_chart_bytes(version, name))
    return path


@functools.cache
def _chart_bytes(version: str, name: str) -> bytes:
    """Packed once per process: every test's world has the 1.2.0 chart (half of Fake.install's CPU)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, text in (
            (
                f"{name}/Chart.yaml",
                f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: {version}\n",
            ),
            (f"{name}/templates/db-migration-job.yaml", "# rendered by the fake helm from tests/data/fake\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Launcher:
    """How a fake's script on PATH starts the fake: a fresh `python -IS` (the shim), or through the
    zygote with the compiled client when there is a C compiler (same process semantics, no interpreter
    start-up per call)."""

    def __init__(self, client: Path | None = None, sock: str | None = None) -> None:
        self.client, self.sock = client, sock

    def script(self, prog: str) -> str:
        if self.client is None:
            return SCRIPT.format(
                python=sys.executable, repo=str(REPO), site=SITE, module=f"fake_{prog}", prog=prog
            )
        return CLIENT_SCRIPT.format(client=self.client, prog=prog, sock=self.sock)


SHIM = Launcher()


def _compile(cc: str, source: Path, out: Path) -> None:
    """Linked statically where the C library allows: no dynamic loader at each of a run's thousands of
    calls (0.48 against 0.72 ms of CPU an exec here). Without a static libc, dynamically."""
    static = subprocess.run([cc, "-O2", "-static", "-o", str(out), str(source)], capture_output=True)
    if static.returncode != 0:
        subprocess.run([cc, "-O2", "-o", str(out), str(source)], check=True)


# compiled clients, one per client.c and compiler: every pytest worker of every run uses the same one
# instead of compiling its own (~0.15 s of CPU each). Ours alone (0700), or not used.
CLIENT_CACHE = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()) / (
    f"kubectl-prefect-rollback-fakes-{os.getuid()}"  # short: the client's path is in a shebang line
)


def _private_dir(path: Path) -> bool:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _client(cc: str, tmp: Path) -> Path:
    """The compiled client: from CLIENT_CACHE when this source was compiled by this compiler before
    (written there atomically, so workers compiling at once race harmlessly), else compiled into tmp."""
    source = Path(__file__).with_name("client.c")
    real = os.stat(os.path.realpath(cc))
    key = hashlib.sha256(source.read_bytes() + f"{cc} {real.st_size} {real.st_mtime_ns}".encode())
    if not _private_dir(CLIENT_CACHE):
        _compile(cc, source, tmp / "fake-client")
        return tmp / "fake-client"
    client = CLIENT_CACHE / f"client-{key.hexdigest()[:16]}"
    if not client.exists():
        _compile(cc, source, tmp / "fake-client")
        os.replace(tmp / "fake-client", client)
    return client


@contextmanager
def zygote() -> Iterator[Launcher]:
    """Compile client.c (or take it compiled: _client) and start the zygote for this pytest process;
    the shim when there is no C compiler (or FAKE_ZYGOTE=0). A compiler that fails on client.c is an
    error, not a fallback."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None or os.environ.get("FAKE_ZYGOTE") == "0" or not hasattr(os, "pidfd_open"):
        yield SHIM
        return
    tmp = Path(tempfile.mkdtemp(prefix="fakez-", dir="/tmp" if os.path.isdir("/tmp") else None))
    sock = str(tmp / "zygote.sock")  # short: a socket path; the client's path is in a shebang line too
    try:
        client = _client(cc, tmp)
        boot = ZYGOTE_BOOT.format(repo=str(REPO), site=SITE)
        z = subprocess.Popen(
            [sys.executable, "-IS", "-c", boot, sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            ready = z.stdout.readline()  # type: ignore[union-attr]
            if ready != b"ready\n":
                raise RuntimeError(f"the fakes' zygote did not start (exit {z.wait()})")
            yield Launcher(client, sock)
        finally:
            z.stdin.close()  # type: ignore[union-attr]  (EOF: it kills what still runs and exits)
            z.wait(timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def fake_launcher() -> Iterator[Launcher]:
    with zygote() as launcher:
        yield launcher


@pytest.fixture(scope="session")
def plugin_server() -> Iterator[str]:
    """The socket of a server that starts the plugin as a real process (plugin_server.py), with the
    same short pauses as the in-process runs."""
    from tests.fakes import plugin_server as ps

    with ps.server(str(REPO), PAUSE) as sock:
        yield sock


class Fake:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch, launcher: Launcher = SHIM) -> None:
        self.tmp, self.mp, self.launcher = tmp, monkeypatch, launcher
        self.bin = tmp / "bin"
        self.state_path = tmp / "state.json"
        self.calls_path = tmp / "calls.jsonl"
        self.work = tmp / "work"
        self.kubeconfig = tmp / "kubeconfig"

    def install(self) -> Fake:
        self.bin.mkdir()
        self.work.mkdir()
        (self.tmp / "home").mkdir()
        for prog in ("kubectl", "helm"):
            exe = self.bin / prog
            exe.write_text(self.launcher.script(prog))
            exe.chmod(0o755)
        self.state_path.write_text(initial_text())
        self.calls_path.write_text("")
        self.kubeconfig.write_text(KUBECONFIG)
        chart_tgz(self.work / "prefect-cloud-1.2.0.tgz", "1.2.0")
        for var in CLEAN_ENV:
            self.mp.delenv(var, raising=False)
        self.mp.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        self.mp.setenv("HOME", str(self.tmp / "home"))
        self.mp.setenv("KUBECONFIG", str(self.kubeconfig))
        self.mp.setenv("FAKE_STATE", str(self.state_path))
        self.mp.setenv("FAKE_CALLS", str(self.calls_path))
        self.mp.chdir(self.work)
        self._short_pauses()
        return self

    def _short_pauses(self) -> None:
        """The fakes answer at once, so the plugin's pauses between looks (0.25-2 s, all through
        interrupt.sleep) only make the in-process runs slow: cap them. Same looks and outcomes, just
        sooner; deadlines stay wall-clock. Plugin processes (plugin_server.py) cap them alike."""
        from kubectl_prefect_rollback import interrupt

        pause = interrupt.sleep
        self.mp.setattr(interrupt, "sleep", lambda seconds: pause(min(seconds, PAUSE)))

    # -- the world ------------------------------------------------------------------------------
    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        with fstate.locked(str(self.state_path)) as st:
            yield st

    @property
    def state(self) -> dict[str, Any]:
        return fstate.read(str(self.state_path))

    def obj(self, kind: str, name: str, ns: str = "customer-managed") -> dict[str, Any] | None:
        return self.state["objects"].get(f"{ns}/{kind}/{name}")

    def objects(self, kind: str, ns: str = "customer-managed") -> dict[str, dict[str, Any]]:
        prefix = f"{ns}/{kind}/"
        return {k[len(prefix) :]: o for k, o in self.state["objects"].items() if k.startswith(prefix)}

    def fail(
        self,
        prog: str,
        match: str,
        *,
        code: int = 1,
        stderr: str = "",
        stdout: str = "",
        nth: int = 1,
        times: int = 1,
        sleep: float = 0,
        kind: str | None = None,
    ) -> None:
        """The nth call of `prog` whose argv (shlex-joined) matches `match` (and that sends an object of
        `kind` on stdin, if given) exits `code` with `stderr`."""
        rule = {
            "prog": prog,
            "match": match,
            "kind": kind,
            "code": code,
            "stderr": stderr,
            "stdout": stdout,
            "nth": nth,
            "times": times,
            "sleep": sleep,
        }
        with self.edit() as st:
            st["failures"].append(rule)

    def hold(self, prog: str, match: str, seconds: float, *, nth: int = 1, released: bool = False) -> None:
        """The nth matching call takes `seconds` (logged at once, then it waits, then does its work),
        so a test can send a signal while it is in flight. released=True: it ends at `release()`
        instead, `seconds` being only the bound for a test that never releases it."""
        rule = {"prog": prog, "match": match, "nth": nth, "times": 1, "hold": seconds, "release": released}
        with self.edit() as st:
            st["failures"].append(rule)

    def release(self) -> None:
        """End every hold taken with released=True, and a held `helm upgrade` (upgrade_hold)."""
        Path(f"{self.state_path}.release").touch()

    def clear_failures(self) -> None:
        with self.edit() as st:
            st["failures"] = []

    def missing(self, prog: str) -> None:
        """`prog` is not on PATH at all (PATH is cut down to the fakes' folder)."""
        (self.bin / prog).unlink()
        self.mp.setenv("PATH", str(self.bin))

    # -- the log --------------------------------------------------------------------------------
    def calls(self, prog: str | None = None) -> list[dict[str, Any]]:
        text = self.calls_path.read_text()
        # a fake appends its line while we may be reading (tests poll the log): a last line without
        # its newline is a call still being logged, not yet a call
        rows = [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line]
        return [r for r in rows if prog is None or r["prog"] == prog]

    def jobs_created(self) -> int:
        """How many Jobs were really created (server-side dry runs left out)."""
        return sum(
            1
            for c in self.calls("kubectl")
            if c["argv"][0] in ("create", "apply")
            and "--dry-run=server" not in c["argv"]
            and c.get("stdin_kind") == "Job"
        )

    def mutations(self, *, probes: bool = False) -> list[list[str]]:
        """Calls that change the cluster (server-side dry runs do not). probes=False leaves out the
        short-lived probe pods a plan may create and delete (`create`/`delete pod …-probe-…`)."""
        out = []
        for c in self.calls():
            argv = c["argv"]
            verb = argv[0] if argv else ""
            if "--dry-run=server" in argv:
                continue
            if c["prog"] == "helm" and verb not in ("upgrade", "install", "rollback", "uninstall"):
                continue
            if c["prog"] == "kubectl" and verb not in (
                "create",
                "apply",
                "replace",
                "patch",
                "scale",
                "delete",
            ):
                continue
            is_probe = verb == "delete" and "pod" in argv and any("-probe-" in a for a in argv)
            is_probe = is_probe or (verb == "create" and c.get("stdin_kind") == "Pod")
            if is_probe and not probes:
                continue
            out.append([c["prog"], *argv])
        return out

    def argvs(self, prog: str | None = None) -> list[list[str]]:
        return [([] if prog else [c["prog"]]) + c["argv"] for c in self.calls(prog)]

    def reset_calls(self) -> None:
        self.calls_path.write_text("")

    # -- running the plugin ---------------------------------------------------------------------
    def cli(self, *args: str, input: str | None = None, env: dict[str, str] | None = None):
        from click.testing import CliRunner

        from kubectl_prefect_rollback.cli import cli

        for k, v in (env or {}).items():
            self.mp.setenv(k, v)
        return CliRunner().invoke(cli, list(args), input=input, prog_name="kubectl-prefect_rollback")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_launcher: Launcher) -> Fake:
    """Fake kubectl + helm on PATH over the default world (release customer-managed at 1.3.0)."""
    return Fake(tmp_path, monkeypatch, fake_launcher).install()
