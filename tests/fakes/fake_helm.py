"""A stateful fake `helm`: list/history/get values|hooks|manifest/template/show chart/upgrade --install.

Releases live in `state["releases"]["<ns>/<name>"]` with a history of revisions (version, status, values,
hooks and manifest texts); chart versions in `state["charts"][version]`. `upgrade` appends a revision,
points the Deployments at the new images and re-syncs their pods.
"""

from __future__ import annotations

import functools
import json
import os
import tarfile
from typing import Any

from tests.fakes import fake_kubectl
from tests.fakes.state import Exit, main, one, parse_args, pid

VALUED = {
    "-n": "namespace",
    "--namespace": "namespace",
    "--kube-context": "context",
    "--kubeconfig": "kubeconfig",
    "-o": "output",
    "--output": "output",
    "--revision": "revision",
    "--max": "max",
    "--version": "version",
    "-s": "show_only",
    "--show-only": "show_only",
    "-f": "values",
    "--values": "values",
    "--description": "description",
    "--timeout": "timeout",
    "--template": "template",
}
FLAGS = {
    "--all",
    "--install",
    "--wait",
    "-a",
    "--deployed",
    "--failed",
    "--pending",
    "--uninstalling",
    "--superseded",
    "--uninstalled",
    "--force-conflicts",
}
STATES = ("deployed", "failed", "pending", "uninstalling", "superseded", "uninstalled")


def local_chart_yaml(path: str) -> str | None:
    """Chart.yaml text of a local chart directory or .tgz (helm ignores --version for these)."""
    if os.path.isdir(path):
        with open(os.path.join(path, "Chart.yaml")) as f:
            return f.read()
    if os.path.isfile(path):
        with tarfile.open(path) as tar:
            for m in tar:
                if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"):
                    return tar.extractfile(m).read().decode()  # type: ignore[union-attr]
        raise Exit(1, err=f"Error: file '{path}' does not appear to be a gzipped archive\n")
    return None


def chart_version(st: dict[str, Any], chart: str, flag: str | None) -> str:
    text = local_chart_yaml(chart)
    if text is not None:
        return next(
            line.split(":", 1)[1].strip().strip("\"'")
            for line in text.splitlines()
            if line.startswith("version:")
        )
    if chart.startswith((".", "/")):
        raise Exit(1, err=f'Error: path "{chart}" not found\n')
    if not flag or flag not in st["charts"]:
        raise Exit(1, err=f'Error: chart "{chart}" version "{flag}" not found in repository\n')
    return flag


def release(st: dict[str, Any], ns: str, name: str) -> dict[str, Any]:
    rel = st["releases"].get(f"{ns}/{name}")
    if rel is None:
        raise Exit(1, err="Error: release: not found\n")
    return rel


def revision(rel: dict[str, Any], opts: dict) -> dict[str, Any]:
    want = one(opts, "revision")
    hist = rel["history"]
    found = hist[-1] if want is None else next((h for h in hist if str(h["revision"]) == want), None)
    if found is None:
        raise Exit(1, err="Error: release: not found\n")
    return found


def row(rel: dict[str, Any], h: dict[str, Any]) -> dict[str, Any]:
    return {
        "revision": h["revision"],
        "updated": h["updated"],
        "status": h["status"],
        "chart": f"{rel['chart']}-{h['version']}",
        "app_version": h["version"],
        "description": h["description"],
    }


def upgrade(st: dict[str, Any], ns: str, pos: list[str], opts: dict, stdin: str | None) -> None:
    import yaml

    name, chart = pos
    version = chart_version(st, chart, one(opts, "version"))
    values: dict[str, Any] = {}
    for f in opts.get("values", []):
        text = stdin if f == "-" else open(f).read()
        values.update(yaml.safe_load(text or "") or {})
    rel = st["releases"].setdefault(f"{ns}/{name}", {"name": name, "chart": "prefect-cloud", "history": []})
    if rel["history"] and rel["history"][-1]["status"].startswith("pending"):
        raise Exit(
            1, err="Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"
        )
    rev = (rel["history"][-1]["revision"] if rel["history"] else 0) + 1
    texts = st["charts"][version]
    entry = {
        "revision": rev,
        "version": version,
        "status": "deployed",
        "updated": "2026-02-01 10:00:00",
        "description": one(opts, "description") or "Upgrade complete",
        "values": values,
        "hooks": texts["hooks"],
        "manifest": texts["manifest"],
    }
    hold = st.get("upgrade_hold")  # like `helm upgrade --wait`: pending while it waits for the pods
    if not hold:
        _deploy(st, ns, name, entry)
        raise Exit(0, f'Release "{name}" has been upgraded. Happy Helming!\nREVISION: {rev}\n')
    rel["history"].append({**entry, "status": "pending-upgrade", "description": "Preparing upgrade"})
    st["helm_pid"] = pid()
    raise Exit(then=lambda: _wait_then_finish(ns, name, entry, float(hold), bool(st.get("upgrade_deaf"))))


def _deploy(st: dict[str, Any], ns: str, name: str, entry: dict[str, Any]) -> None:
    rel = st["releases"][f"{ns}/{name}"]
    for h in rel["history"]:
        if h["status"] == "deployed":
            h["status"] = "superseded"
    rel["history"] = [h for h in rel["history"] if h["revision"] != entry["revision"]] + [entry]
    counts = chart_replicas(entry["manifest"])
    for role, image in st["images"].items():
        deploy = st["objects"].get(f"{ns}/deployment/{name}-{role}")
        if deploy:
            deploy["spec"]["template"]["spec"]["containers"][0]["image"] = image.replace(
                "@VERSION@", entry["version"]
            )
            if deploy["metadata"]["name"] in counts:  # helm sets what the chart sets, our zero included
                deploy["spec"]["replicas"] = counts[deploy["metadata"]["name"]]
            fake_kubectl.sync_pods(st, ns, deploy)
            fake_kubectl.bump(st, deploy)


def chart_replicas(manifest: str) -> dict[str, int]:
    """The replicas a chart's manifest sets, by Deployment (a chart may leave them out)."""
    return dict(_replicas(manifest))


@functools.lru_cache(maxsize=16)  # a run's few chart versions, parsed once per process (pure-Python YAML)
def _replicas(manifest: str) -> dict[str, int]:
    import yaml

    docs = [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and d.get("kind") == "Deployment"]
    return {d["metadata"]["name"]: d["spec"]["replicas"] for d in docs if "replicas" in (d.get("spec") or {})}


def _wait_then_finish(ns: str, name: str, entry: dict[str, Any], hold: float, deaf: bool) -> Exit:
    """helm's signal handling (cmd/helm/upgrade.go, 3.10 to 4.x): SIGINT/SIGTERM cancel the context
    and the release is recorded failed; anything else (SIGKILL) leaves it pending-upgrade."""
    import signal
    import time

    from tests.fakes.state import locked, released

    got: list[int] = []
    ignored: list[int] = []  # the deaf helm: signals it took no notice of, told to the test
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: (ignored if deaf else got).append(signum))
    with locked(os.environ["FAKE_STATE"]) as st:
        st["helm_listening"] = True  # its handlers are in place: a signal now is one it handles
    deadline = time.monotonic() + hold
    told = 0
    while time.monotonic() < deadline and not got and not released():
        time.sleep(0.01)
        if len(ignored) > told:
            told = len(ignored)
            with locked(os.environ["FAKE_STATE"]) as st:
                st["helm_ignored"] = list(ignored)
    with locked(os.environ["FAKE_STATE"]) as st:
        rel = st["releases"][f"{ns}/{name}"]
        if got:
            for h in rel["history"]:
                if h["revision"] == entry["revision"]:
                    h["status"], h["description"] = "failed", f'Upgrade "{name}" failed: context canceled'
            st["helm_signals"] = st.get("helm_signals", []) + got
            return Exit(
                1, f"Release {name} has been cancelled.\n", "Error: UPGRADE FAILED: context canceled\n"
            )
        _deploy(st, ns, name, entry)
    return Exit(0, f'Release "{name}" has been upgraded. Happy Helming!\nREVISION: {entry["revision"]}\n')


def handle(st: dict[str, Any], argv: list[str], stdin: str | None) -> None:
    pos, opts, _ = parse_args(argv, VALUED, FLAGS)
    ns = one(opts, "namespace") or os.environ.get("HELM_NAMESPACE") or "default"
    verb, args = (pos[0], pos[1:]) if pos else ("", [])
    helm_version = st.get("helm_version", "v3.17.3")  # a scenario may play helm 4
    if verb == "version":
        raise Exit(
            0,
            helm_version
            if one(opts, "template") == "{{.Version}}"
            else f'version.BuildInfo{{Version:"{helm_version}"}}\n',
        )
    if verb == "get" and args[:1] == ["metadata"]:
        if tuple(int(x) for x in helm_version.lstrip("v").split(".")[:2]) < (3, 13):
            raise Exit(1, err="Error: unknown flag: --output\n")  # helm 3.10: no `get metadata`
        rel = release(st, ns, args[1])
        meta = {"name": rel["name"]}  # only helm 4 says how the release was applied
        if helm_version.startswith("v4"):
            meta["applyMethod"] = rel.get("apply_method", "ssa")
        raise Exit(0, json.dumps(meta))
    if "force_conflicts" in opts and not helm_version.startswith("v4"):
        raise Exit(1, err="Error: unknown flag: --force-conflicts\n")
    if verb in ("list", "history") or (verb == "get" and args[:1] == ["values"]):
        if one(opts, "output") != "json":
            raise Exit(1, err="fake helm: only --output json\n")
    if verb == "list":
        rows = [
            # real helm list prints no description (only history does)
            {k: v for k, v in row(r, r["history"][-1]).items() if k != "description"}
            | {"name": r["name"], "namespace": ns}
            for k, r in sorted(st["releases"].items())
            if k.startswith(f"{ns}/")
        ]
        shown = [s for s in STATES if s in opts] or ["deployed", "failed"]  # helm's default
        if "all" not in opts:  # helm 3 only; helm 4 dropped --all
            rows = [r for r in rows if r["status"].split("-", 1)[0] in shown]
        raise Exit(0, json.dumps(rows))
    if verb == "history":
        rel = release(st, ns, args[0])
        raise Exit(0, json.dumps([row(rel, h) for h in rel["history"]]))
    if verb == "get":
        what, name = args
        h = revision(release(st, ns, name), opts)
        if what == "values":
            raise Exit(0, json.dumps(h["values"] or None))
        raise Exit(0, h[what])
    if verb == "template":
        name, chart = args
        version = chart_version(st, chart, one(opts, "version"))
        show = one(opts, "show_only")
        texts = st["charts"][version]
        if show is None:  # the whole chart: hooks (the migration Job among them) and the manifest
            raise Exit(0, texts["hooks"] + "---\n" + texts["manifest"])
        if show != "templates/db-migration-job.yaml":
            raise Exit(1, err=f"Error: could not find template {show} in chart\n")
        raise Exit(0, texts["template"])
    if verb == "show" and args[:1] == ["chart"]:
        version = chart_version(st, args[1], one(opts, "version"))
        text = local_chart_yaml(args[1])
        raise Exit(
            0, text or f"apiVersion: v2\nname: prefect-cloud\nversion: {version}\nappVersion: {version}\n"
        )
    if verb == "upgrade" and "install" in opts:
        upgrade(st, ns, args, opts, stdin)
    raise Exit(1, err=f'Error: unknown command "{verb}" for "helm"\n')


if __name__ == "__main__":
    main("helm", handle)
