"""The read-only commands `revisions`, `history` and `status`, and the `--to` completion: they read the
release, its pods, records and lease, and change nothing. The revisions and history documents and
tables are show_revisions.py's, the status document status.py's."""

from __future__ import annotations

from typing import Any

from kubectl_prefect_rollback import (
    deployed,
    heads,
    helm,
    kube,
    leases,
    output,
    probe,
    proc,
    records,
    release,
    servers,
    show_revisions,
    status,
    unfinished,
    versions,
)
from kubectl_prefect_rollback.commands import common
from kubectl_prefect_rollback.commands.config import Config
from kubectl_prefect_rollback.errors import RollbackError
from kubectl_prefect_rollback.proc import CommandError


def revisions(
    cfg: Config,
    *,
    full: bool,
    to: str | None,
    save: bool,
    fmt: str,
    pod: str | None,
    selector: str | None,
    container: str | None,
) -> None:
    t = cfg.target
    rel = release.resolve(t, cfg.release)
    pods = kube.list_(t, "pods", selector)
    server = servers.find_server_pod(pods, rel.name, pod=pod, container=container)
    if server is None:
        raise RollbackError(
            f"no Running server pod of {rel.name} in namespace {t.namespace}",
            hint="Pass --pod NAME (and --container) to read a specific pod.",
        )
    # --save also asks the image's CLI about -y: a later rollback from this version then needn't
    try:
        listing = heads.read_chains(t, server, with_help=save)
    except heads.UnclearHelp as e:  # the heads are still worth keeping; a rollback asks again
        cfg.out.warn(f"{e.message}; the heads are recorded without that answer")
        listing = heads.read_chains(t, server)
    chains = listing.chains
    target = (to, _target_heads(cfg, rel, to)) if to else None
    if save:
        entry = records.Entry(heads.heads_of(chains), f"pod {server.name}", listing.cli, listing.files)
        records.write(t, rel.name, {rel.version: entry})
        said = " and its image's -y answer" if listing.cli else ""
        cfg.out.ok(f"heads of {rel.version}{said} recorded in configmap {records.name(rel.name)}")
    source = (server.name, server.container)
    doc = show_revisions.revisions_doc(rel, t.namespace, source, chains, full=full, target=target)
    if fmt != "table":
        cfg.out.data(output.render(doc, fmt))
        return
    cfg.out.say(show_revisions.revisions_header(doc))
    cfg.out.data(show_revisions.revisions_table(doc, chains, full=full))


def _target_heads(cfg: Config, rel: helm.Release, to: str) -> dict[str, str | None]:
    versions.parse(to)
    recorded = records.heads(records.read(cfg.target, rel.name), to)
    if recorded is None:
        raise RollbackError(
            f"no heads recorded for {to} in configmap {records.name(rel.name)}",
            hint=f"`plan --to {to}` finds them with a probe pod; "
            f"`revisions --save` records them while {to} runs.",
        )
    return recorded


def history(cfg: Config, *, fmt: str) -> None:
    t = cfg.target
    rel = release.resolve(t, cfg.release)
    recorded = records.read(t, rel.name)
    hist = helm.history(t, rel.name)
    heads_of = {h.version: records.heads(recorded, h.version) for h in hist}
    doc = show_revisions.history_doc(rel.name, hist, heads_of)
    cfg.out.data(show_revisions.history_table(doc) if fmt == "table" else output.render(doc, fmt))


def chart_versions(cfg: Config, incomplete: str) -> list[str]:
    """The chart versions in the release's helm history that start with `incomplete`, newest first."""
    rel = release.resolve(cfg.target, cfg.release)
    found: list[str] = []
    for r in sorted(helm.history(cfg.target, rel.name), key=lambda r: -r.revision):
        if r.version and r.version not in found and r.version.startswith(incomplete):
            found.append(r.version)
    return found


def status_command(cfg: Config, *, fmt: str, probe: bool = True) -> None:
    """Read-only: an unfinished rollback as the cluster shows it, and the commands that resume or abort it."""
    t = cfg.target
    rel = release.resolve(t, cfg.release)
    facts, (listing, source) = proc.gather(
        lambda: unfinished.gather(t, rel),
        lambda: heads.from_server(t, rel, selector=None, pod=None, container=None),
    )
    if listing is None and probe:  # the servers are scaled down: the deployed image answers
        listing, source = _probe_heads(cfg, rel)
    heads_of = heads.heads_of(listing.chains) if listing is not None else None
    facts.extra["heads"] = {"source": source or "no server pod runs (--no-probe)", "heads": heads_of}
    doc = status.document(facts, leases.now(), prog=cfg.prog, namespace=t.namespace, context=t.context)
    cfg.out.data(status.table(doc) if fmt == "table" else output.render(doc, fmt))


def _probe_heads(cfg: Config, rel: helm.Release) -> tuple[Any, str | None]:
    """The heads from a probe pod of the deployed migration Job; a failure is said, never raised."""
    t = cfg.target
    try:
        _, jobs = deployed.of_revision(t, rel.name, rel.revision, rel.version)
        return probe.current(t, rel, jobs)
    except (RollbackError, CommandError) as e:  # status still answers; it says why heads are missing
        return None, f"unknown (no server pod runs and the probe failed: {str(e).splitlines()[0][:200]})"
    finally:
        common.warn_probes(cfg.out)
