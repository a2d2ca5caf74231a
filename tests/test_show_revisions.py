"""show_revisions: the revisions and history documents (prefect-rollback/v1) and tables, built from plain
values without a cluster."""

from __future__ import annotations

from kubectl_prefect_rollback import show_revisions
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.migrations import Chain, Migration

ORION = Chain(
    "orion",
    (
        Migration("c3", ("b2",), "c3_drop.py", "drop sso", ('op.drop_column("account", "sso")',)),
        Migration("b2", ("a1",), "b2_add.py", "add index"),
        Migration("a1", (), "a1_base.py", "base"),
    ),
    "c3",
)
EVENTS = Chain("events", (Migration("e1", (), "e1_base.py", "events base"),), "e1")
CHAINS = {"nebula": None, "orion": ORION, "events": EVENTS}
REL = Release("prefect", "ns", 7, "deployed", "prefect-cloud", "1.3.0", "2025.1", "t", "Upgrade complete")


def test_revisions_doc_names_release_source_and_each_chain() -> None:
    doc = show_revisions.revisions_doc(REL, "ns", ("server-0", "server"), CHAINS, full=False)
    assert doc == {
        "apiVersion": "prefect-rollback/v1",
        "kind": "Revisions",
        "release": {
            "name": "prefect",
            "namespace": "ns",
            "chart": "prefect-cloud",
            "version": "1.3.0",
            "appVersion": "2025.1",
            "revision": 7,
            "status": "deployed",
        },
        "source": {"pod": "server-0", "container": "server"},
        "databases": {
            "nebula": {"present": False, "head": None, "count": 0},
            "orion": {"present": True, "head": "c3", "count": 3, "newestFile": "c3_drop.py"},
            "events": {"present": True, "head": "e1", "count": 1, "newestFile": "e1_base.py"},
        },
    }


def test_revisions_doc_with_a_target_counts_what_to_revert_and_unknown_targets_as_none() -> None:
    target = ("1.2.0", {"nebula": None, "orion": "a1", "events": "zz"})
    doc = show_revisions.revisions_doc(REL, "ns", ("server-0", "server"), CHAINS, full=False, target=target)
    assert doc["target"] == {"version": "1.2.0", "heads": target[1]}
    got = {db: (e["target"], e["toRevert"]) for db, e in doc["databases"].items()}
    assert got == {"nebula": (None, None), "orion": ("a1", 2), "events": ("zz", None)}


def test_revisions_doc_full_lists_every_migration_with_its_down_revisions() -> None:
    doc = show_revisions.revisions_doc(REL, "ns", ("server-0", "server"), CHAINS, full=True)
    assert doc["databases"]["orion"]["migrations"][0] == {
        "revision": "c3",
        "file": "c3_drop.py",
        "description": "drop sso",
        "destructive": True,
        "drops": ['op.drop_column("account", "sso")'],
        "downRevisions": ["b2"],
    }
    assert [m["revision"] for m in doc["databases"]["orion"]["migrations"]] == ["c3", "b2", "a1"]
    assert "migrations" not in doc["databases"]["nebula"]


def test_revisions_header_and_table() -> None:
    doc = show_revisions.revisions_doc(REL, "ns", ("server-0", "server"), CHAINS, full=False)
    assert show_revisions.revisions_header(doc) == (
        "release   prefect  chart prefect-cloud-1.3.0  app 2025.1  (revision 7, deployed)\n"
        "pod       server-0  container server\n"
    )
    assert show_revisions.revisions_table(doc, CHAINS, full=False).splitlines() == [
        "DATABASE  HEAD  MIGRATIONS  NEWEST FILE",
        "nebula    -     0           (absent)",
        "orion     c3    3           c3_drop.py",
        "events    e1    1           e1_base.py",
    ]


def test_revisions_table_with_target_and_full_chains_marks_destructive_migrations() -> None:
    target = ("1.2.0", {"orion": "a1"})
    doc = show_revisions.revisions_doc(REL, "ns", ("server-0", "server"), CHAINS, full=True, target=target)
    lines = show_revisions.revisions_table(doc, CHAINS, full=True).splitlines()
    assert lines[0] == "DATABASE  HEAD  MIGRATIONS  NEWEST FILE  TARGET  TO REVERT"
    assert lines[2] == "orion     c3    3           c3_drop.py   a1      2"
    assert lines[3] == "events    e1    1           e1_base.py   -       ?"
    assert lines[5:10] == [
        "orion (newest first, ! = downgrade drops data)",
        "   REVISION  DOWN REVISION  FILE        DESCRIPTION",
        "!  c3        b2             c3_drop.py  drop sso",
        "   b2        a1             b2_add.py   add index",
        "   a1        -              a1_base.py  base",
    ]
    assert "nebula (newest first" not in "\n".join(lines)


def test_history_doc_carries_the_heads_recorded_for_each_version() -> None:
    old = Release(
        "prefect", "ns", 6, "superseded", "prefect-cloud", "1.2.0", "2024.9", "t0", "Install complete"
    )
    recorded = {"1.2.0": {"nebula": "n1", "orion": "a1", "events": None}, "1.3.0": None}
    doc = show_revisions.history_doc("prefect", [old, REL], recorded)
    assert doc["apiVersion"] == "prefect-rollback/v1" and doc["kind"] == "History"
    assert doc["release"] == "prefect"
    assert doc["revisions"][0] == {
        "revision": 6,
        "updated": "t0",
        "status": "superseded",
        "chart": "prefect-cloud",
        "version": "1.2.0",
        "appVersion": "2024.9",
        "description": "Install complete",
        "heads": {"nebula": "n1", "orion": "a1", "events": None},
    }
    assert doc["revisions"][1]["heads"] is None


def test_history_table_shows_heads_per_database_and_cuts_long_descriptions() -> None:
    long = Release("prefect", "ns", 8, "failed", "prefect-cloud", "1.4.0", "2025.2", "t2", "x" * 80)
    doc = show_revisions.history_doc("prefect", [REL, long], {"1.3.0": {"orion": "c3"}})
    assert show_revisions.history_table(doc).splitlines() == [
        "REVISION  STATUS    CHART                APP     NEBULA  ORION  EVENTS  DESCRIPTION",
        "7         deployed  prefect-cloud-1.3.0  2025.1  -       c3     -       Upgrade complete",
        f"8         failed    prefect-cloud-1.4.0  2025.2  -       -      -       {'x' * 60}",
    ]
