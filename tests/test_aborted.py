"""aborted: which rollback an abort undoes (a finished one from helm history) and the backup it names."""

from __future__ import annotations

import pytest

from kubectl_prefect_rollback import aborted, helm, unfinished
from kubectl_prefect_rollback.errors import AlreadyDone


def _facts(*history: helm.Release) -> unfinished.Facts:
    return unfinished.Facts(history[-1], tuple(history), None, {}, (), (), ())


def _rel(rev: int, version: str, status: str, description: str = "") -> helm.Release:
    return helm.Release("cm", "cm", rev, status, "prefect-cloud", version, version, description=description)


def test_without_a_lease_a_release_that_is_not_our_rollback_has_nothing_to_abort() -> None:
    with pytest.raises(AlreadyDone, match="nothing to abort"):
        aborted.finished(_facts(_rel(1, "1.2.0", "superseded"), _rel(2, "1.3.0", "deployed")))


def test_a_finished_rollback_rolls_forward_to_the_revision_it_came_from() -> None:
    rb = aborted.finished(
        _facts(
            _rel(1, "1.3.0", "superseded"),
            _rel(2, "1.3.0", "superseded"),
            _rel(3, "1.2.0", "deployed", "prefect-rollback: 1.3.0 -> 1.2.0; nebula x"),
        )
    )
    assert (rb.from_version, rb.from_revision, rb.to_version) == ("1.3.0", 2, "1.2.0")


def _facts_with_backup(doc: dict | None) -> unfinished.Facts:
    rel = helm.Release("customer-managed", "customer-managed", 4, "deployed", "prefect-cloud", "1.3.0", "")
    return unfinished.Facts(rel, (), None, {}, (), (), (), backup=doc)


def test_the_abort_plan_names_the_backup_the_plugin_took_at_the_from_version() -> None:
    doc = {"version": "1.3.0", "dir": "/backups/x", "databases": {"orion": {}, "nebula": {}}}
    assert aborted.backup(_facts_with_backup(doc), "1.3.0") == (
        "/backups/x (nebula, orion; `restore --from /backups/x`)"
    )
    # a backup of an earlier rollback (another version) holds other rows: it is not named
    assert aborted.backup(_facts_with_backup({**doc, "version": "1.2.0"}), "1.3.0") is None
    assert aborted.backup(_facts_with_backup(None), "1.3.0") is None
