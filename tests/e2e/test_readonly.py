"""revisions, plan and render against the real installation: what they say must match the databases
and the image files, and plan must change nothing."""

from __future__ import annotations

import json
import time

import yaml

from testbed import app as fixture
from testbed.cluster import RELEASE


def test_revisions_agree_with_databases_and_images(at_130) -> None:
    app = at_130()
    heads = fixture.release_heads("1.3.0")
    assert app.heads() == heads

    doc = json.loads(app.plugin("revisions", "-o", "json", "--all").stdout)
    assert doc["kind"] == "Revisions" and doc["release"]["version"] == "1.3.0"
    for db in fixture.DATABASES:
        entry = doc["databases"][db]
        assert entry["present"] and entry["head"] == heads[db]
        chain = fixture.release_migrations("1.3.0")[db]  # oldest first
        assert entry["count"] == len(chain)
        assert [m["revision"] for m in entry["migrations"]] == list(reversed(chain))

    table = app.plugin("revisions").stdout
    for db in fixture.DATABASES:
        row = next(line for line in table.splitlines() if line.startswith(db))
        assert heads[db] in row and str(len(fixture.release_migrations("1.3.0")[db])) in row


def test_plan_lists_exactly_what_to_revert_and_changes_nothing(at_130) -> None:
    app = at_130()
    time.sleep(1)  # let the controllers settle before taking the snapshot
    before = app.resource_versions()

    doc = json.loads(app.plugin("plan", "--to", "1.2.0", "--chart", app.chart("1.2.0"), "-o", "json").stdout)

    assert app.resource_versions() == before, "plan must not change any object"
    assert app.heads() == fixture.release_heads("1.3.0")
    reverted = fixture.reverted("1.3.0", "1.2.0")
    destructive = fixture.destructive("1.3.0", "1.2.0")
    for db in fixture.DATABASES:
        entry = doc["databases"][db]
        assert entry["current"] == fixture.release_heads("1.3.0")[db]
        assert entry["target"] == fixture.release_heads("1.2.0")[db]
        assert [m["revision"] for m in entry["revert"]] == reverted[db]
        assert [m["revision"] for m in entry["revert"] if m["destructive"]] == destructive[db]
    assert doc["helm"]["valuesOnStdin"] is True
    text = app.plugin("plan", "--to", "1.2.0", "--chart", app.chart("1.2.0")).stdout
    assert "!" in text and "drop" in text


def test_render_applied_by_hand_downgrades(at_130) -> None:
    app = at_130()
    manifest = app.plugin("render", "--to", "1.2.0", "--chart", app.chart("1.2.0")).stdout
    jobs = [d for d in yaml.safe_load_all(manifest) if d]
    assert [j["kind"] for j in jobs] == ["Job"]
    # the servers would migrate straight back up: stop them first, as the runbook's operator must
    app.kubectl("scale", "deployment", "--all", "--replicas=0")
    app.kubectl("apply", "-f", "-", stdin=manifest)
    name = jobs[0]["metadata"]["name"]
    app.kubectl("wait", "--for=condition=complete", f"job/{name}", "--timeout=120s", timeout=180)
    assert app.heads() == fixture.release_heads("1.2.0")
    assert app.kubectl("get", "lease", f"{RELEASE}-prefect-rollback", "--ignore-not-found").stdout == ""
