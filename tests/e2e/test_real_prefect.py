"""Real Prefect in the loop: the orion chain is the open-source Prefect server schema of two pinned
`prefect` releases (testbed/real_prefect.yaml), downgraded by the newer release's own code.

The images <fixture>-real-<dialect> carry that release's real versions folder at the Customer-Managed
orion path and run orion with the real `prefect server database …` from a venv inside the image;
nebula and events stay fixture chains. The expected path and data loss come from the real package,
computed here: Alembic's own ScriptDirectory walk, and the downgrade() functions read with `ast`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kubesim.tools import tools_required
from testbed import app as fixture
from testbed import real_prefect
from testbed.cluster import RELEASE, App

CACHE = fixture.DEFAULT_BUILD / "cache"

# Run with the newer release's interpreter: its package, its Alembic. Prints JSON.
WALK = r"""
import ast, json, os, re, sys
from alembic.script import ScriptDirectory
import prefect.server.database as d
dialect, newer, older = sys.argv[1:4]
base = os.path.join(os.path.dirname(d.__file__), "_migrations")
sd = ScriptDirectory(base, version_locations=[os.path.join(base, "versions", dialect)])
path = [s for s in sd.iterate_revisions(newer, older) if s.revision != older]
SQL = re.compile(r"(?i)drop\s+(table|column)")
def drops(script):
    tree = ast.parse(open(script.path).read())
    down = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "downgrade")
    found = []
    for node in ast.walk(down):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("drop_table", "drop_column"):
                found.append(node.func.attr)
            elif node.func.attr == "execute" and any(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and SQL.search(a.value)
                for a in ast.walk(node)
            ):
                found.append("sql")
    return found
print(json.dumps({"heads": list(sd.get_heads()),
                  "path": [s.revision for s in path],
                  "destructive": [s.revision for s in path if drops(s)]}))
"""


def venvs() -> dict[str, object]:
    found = {side: real_prefect.installed(CACHE, side) for side in real_prefect.SIDES}
    if not all(found.values()):
        message = "the real-Prefect venvs are not built: run make fixtures (build-fixtures.py --real-prefect)"
        if tools_required():
            pytest.fail(message)
        pytest.skip(message)
    return found


def heads_and_path(venv, dialect: str, newer: str = "head", older: str = "base") -> dict:
    python = str(venv / "bin" / "python")
    done = subprocess.run(
        [python, "-c", WALK, dialect, newer, older], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("dialect", real_prefect.DIALECTS)
def test_the_listing_reads_every_real_migration_like_alembic_and_ast(dialect: str) -> None:
    """Over the whole newer chain (not just one path): order, heads and data loss agree with the real
    package, every way of listing prints the same bytes, and no dropped column lacks its table."""
    from kubectl_prefect_rollback import listing, migrations, show

    walk = heads_and_path(venvs()["newer"], dialect)
    image = fixture.DEFAULT_BUILD / "images" / f"server-{real_prefect.tag('newer', dialect)}"
    root = str(image / "prefect_cloud" / "src" / "prefect_cloud")
    by_sh = subprocess.run(["sh", "-c", migrations.listing_script(root)], capture_output=True, text=True)
    by_py = subprocess.run(list(listing.python_argv(sys.executable, root)), capture_output=True, text=True)
    body = [ln for ln in by_sh.stdout.split("\n") if not ln.startswith(listing.VIA)]
    assert body == [ln for ln in by_py.stdout.split("\n") if not ln.startswith(listing.VIA)]
    orion = migrations.parse_listing(by_sh.stdout)["orion"]
    assert [m.revision for m in orion.migrations] == walk["path"] and [orion.head] == walk["heads"]
    assert [m.revision for m in orion.migrations if m.destructive] == walk["destructive"]
    named = [show._dropped(d) for m in orion.migrations for d in m.drops]
    assert not [d for d in named if d.endswith(".?")], named
    batch = [d for m in orion.migrations for d in m.drops if "  # " in d]  # normalised batch_op drops
    assert len(batch) > 10, named  # Prefect drops columns inside batch_alter_table blocks a lot


def install(app: App, side: str, dialect: str) -> None:
    version = real_prefect.fixture_version(side)
    values = app.values_file(version, image={"tag": real_prefect.tag(side, dialect)})
    # real Prefect starts slowly (imports), twice per install (the Job, then the server): a long wait
    app.helm("upgrade", "--install", RELEASE, app.chart(version), "-f", str(values), "--wait",
             "--timeout", "600s", timeout=900)  # fmt: skip


def installed_real(make_app, helm: str, kubectl: str) -> tuple[App, str, dict, dict]:
    found = venvs()
    app = make_app(kubectl=kubectl, helm=helm, pg=bool(os.environ.get("PREFECT_ROLLBACK_PG_URL")))
    dialect = real_prefect.dialect_for(app.pg_url)
    older_head = heads_and_path(found["older"], dialect)["heads"][0]
    newer_head = heads_and_path(found["newer"], dialect)["heads"][0]
    install(app, "older", dialect)
    assert app.heads()["orion"] == older_head
    install(app, "newer", dialect)
    assert app.heads()["orion"] == newer_head  # read from alembic_version
    walk = heads_and_path(found["newer"], dialect, newer_head, older_head)
    return app, dialect, {"older": older_head, "newer": newer_head}, walk


@pytest.mark.parametrize("kubectl,helm", [("1.32", "4.1.4"), ("1.31.9", "3.17.3")])
def test_rollback_downgrades_the_real_orion_chain_with_real_prefect(
    make_app, kubectl: str, helm: str
) -> None:
    app, dialect, heads, walk = installed_real(make_app, helm, kubectl)
    to = real_prefect.fixture_version("older")
    assert len(walk["path"]) >= 8, walk

    plan = json.loads(app.plugin("plan", "--to", to, "--chart", app.chart(to), "-o", "json").stdout)
    orion = plan["databases"]["orion"]
    assert (orion["current"], orion["target"]) == (heads["newer"], heads["older"])
    assert [m["revision"] for m in orion["revert"]] == walk["path"]  # Alembic's own walk
    assert [m["revision"] for m in orion["revert"] if m["destructive"]] == walk["destructive"]
    text = app.plugin("plan", "--to", to, "--chart", app.chart(to)).stdout
    assert ".?" not in text  # every dropped column is named with its table (batch_alter_table too)

    done = app.plugin("rollback", "--to", to, "--chart", app.chart(to), "--yes", timeout=1200)

    assert app.heads()["orion"] == heads["older"]  # alembic_version, downgraded by real Prefect
    assert app.heads()["nebula"] == fixture.release_heads(to)["nebula"]
    assert "Rolled back customer-managed from" in done.stderr
    jobs = [j for j in app.cluster.sim.list("Job", app.namespace) if "downgrade" in j["metadata"]["name"]]
    assert jobs, "the downgrade ran as a Job"
    pods = json.loads(app.kubectl("get", "pods", "-o", "json").stdout)["items"]
    component = "app.kubernetes.io/component"
    servers = [p for p in pods if p["metadata"].get("labels", {}).get(component) == "server"]
    assert servers
    for pod in servers:
        image = next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "server")
        assert image.endswith(":" + real_prefect.tag("older", dialect))
        assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}.get("Ready") == "True"


def test_naive_chart_rollback_fails_on_the_older_prefects_unknown_revision(make_app) -> None:
    app, dialect, heads, _ = installed_real(make_app, "4.1.4", "1.32")
    to = real_prefect.fixture_version("older")
    values = app.values_file(to, image={"tag": real_prefect.tag("older", dialect)})

    done = app.helm("upgrade", RELEASE, app.chart(to), "-f", str(values), "--wait", "--timeout", "300s",
                    check=False, timeout=600)  # fmt: skip

    assert done.returncode != 0
    job = f"{RELEASE}-db-migrations"
    logs = app.kubectl("logs", f"job/{job}", "--container", "orion", check=False).stdout
    assert f"Can't locate revision identified by '{heads['newer']}'" in logs, logs[-2000:]
    assert "prefect server database upgrade" in logs  # the older release's own Prefect said so
    assert app.heads()["orion"] == heads["newer"]  # nothing was downgraded
