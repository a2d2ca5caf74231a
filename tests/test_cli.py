"""The command line: default command, lazy imports, global options, helm/kubectl plugin environments,
the installed entry point through a symlink, -v echo, and the read-only commands (revisions, history,
render, plan -o json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.fakes.fixture import ENTRY
from tests.fakes.listings import VERSIONS, generate, listing_path


def run_entry(fake, *args: str, exe: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [exe or str(ENTRY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_listings_are_true_outputs_of_the_script() -> None:
    assert VERSIONS == ["1.1.0", "1.2.0", "1.3.0"]
    for version in VERSIONS:
        assert listing_path(version).read_text() == generate(version), version


def test_default_command_is_rollback(fake) -> None:
    result = fake.cli("--to", "1.2.0", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "--dry-run: nothing was changed." in result.stderr
    assert "Rollback plan for customer-managed" in result.stderr


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_nothing_heavy(flag: str) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['kubectl-prefect_rollback', '{flag}']\n"
        "from kubectl_prefect_rollback.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'yaml'\n"
        "    or m.startswith('kubectl_prefect_rollback.commands') or m in (\n"
        "    'kubectl_prefect_rollback.rollback', 'kubectl_prefect_rollback.plan',\n"
        "    'kubectl_prefect_rollback.manifests', 'kubectl_prefect_rollback.migrations')]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stderr, done.stderr
    assert (
        ("kubectl-prefect_rollback 0." in done.stdout) if flag == "--version" else ("rollback" in done.stdout)
    )


def test_group_holds_every_command_the_wiring_modules_define() -> None:
    """Commands are added by name in cli.py: one defined in a cli_* module but not added would be lost."""
    import click

    from kubectl_prefect_rollback import cli, cli_plan, cli_read, cli_recover

    defined = {
        c.name
        for m in (cli, cli_plan, cli_read, cli_recover)
        for c in vars(m).values()
        if isinstance(c, click.Command) and not isinstance(c, click.Group)
    }
    assert defined == set(cli.cli.commands) == {
        "revisions", "history", "status", "plan", "render", "rollback",
        "abort", "backup", "restore", "completion", "__complete",
    }  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "customer-managed", "--context", "fake", "plan", "--to", "1.2.0"],
        ["plan", "--to", "1.2.0", "-n", "customer-managed", "--kube-context", "fake"],
        ["--namespace=customer-managed", "plan", "--context=fake", "--to", "1.2.0"],
    ],
)
def test_global_options_before_and_after(fake, args: list[str]) -> None:
    result = fake.cli(*args)
    assert result.exit_code == 0, result.stderr
    for argv in fake.argvs("kubectl"):
        assert argv[1:5] == ["--context", "fake", "--namespace", "customer-managed"], argv
    for argv in (a for a in fake.argvs("helm") if a[:1] != ["version"]):  # `helm version` is local
        i = argv.index("--kube-context")
        assert argv[i : i + 4] == ["--kube-context", "fake", "--namespace", "customer-managed"], argv


def test_kubectl_mode_namespace_from_kubeconfig_context(fake) -> None:
    result = fake.cli("--context", "other", "revisions")
    assert result.exit_code == 1
    assert "no release of the prefect-cloud chart in namespace other-ns" in result.stderr
    assert fake.argvs("helm")[0][-4:] == ["--kube-context", "other", "--namespace", "other-ns"]


def test_kubectl_mode_ignores_helm_env(fake) -> None:
    result = fake.cli("revisions", env={"HELM_NAMESPACE": "elsewhere", "HELM_KUBECONTEXT": "other"})
    assert result.exit_code == 0, result.stderr
    assert all("--context" not in a and "elsewhere" not in a for a in fake.argvs())
    assert all("--kubeconfig" not in a for a in fake.argvs())  # kubectl reads $KUBECONFIG itself


@pytest.mark.parametrize("kubecontext", ["", "other"])
def test_helm_plugin_environment(fake, kubecontext: str) -> None:
    helm_bin = fake.tmp / "helm-bin" / "helm"
    helm_bin.parent.mkdir()
    helm_bin.write_text((fake.bin / "helm").read_text())
    helm_bin.chmod(0o755)
    with fake.edit() as st:  # the release lives where helm says, not where the kubeconfig points
        st["releases"] = {k.replace("customer-managed/", "prod/", 1): v for k, v in st["releases"].items()}
        st["objects"] = {k.replace("customer-managed/", "prod/", 1): v for k, v in st["objects"].items()}
    env = {
        "HELM_PLUGIN_NAME": "prefect-rollback",
        "HELM_NAMESPACE": "prod",
        "HELM_KUBECONTEXT": kubecontext,
        "HELM_BIN": str(helm_bin),
        "KUBECONFIG": str(fake.kubeconfig),
    }
    result = run_entry(fake, "revisions", env=env)
    assert result.returncode == 0, result.stderr
    ctx = ["--context", "other"] if kubecontext else []
    hctx = ["--kube-context", "other"] if kubecontext else []
    kube = fake.calls("kubectl")
    assert kube and all(
        c["argv"][1:][: 4 + len(ctx)] == ["--kubeconfig", str(fake.kubeconfig), *ctx, "--namespace", "prod"]
        for c in kube
    )
    helm = fake.calls("helm")
    assert helm and all(c["argv0"] == str(helm_bin) for c in helm)
    assert all(
        c["argv"][-4 - len(hctx) :] == ["--kubeconfig", str(fake.kubeconfig), *hctx, "--namespace", "prod"]
        for c in helm
    )


def test_helm_debug_means_verbose(fake) -> None:
    env = {"HELM_PLUGIN_NAME": "prefect-rollback", "HELM_NAMESPACE": "customer-managed", "HELM_DEBUG": "true"}
    result = fake.cli("history", env=env)
    assert result.exit_code == 0, result.stderr
    assert "$ helm history customer-managed" in result.stderr


def test_symlink_named_like_the_kubectl_plugin(fake) -> None:
    link = fake.tmp / "plugins" / "kubectl-prefect_rollback"
    link.parent.mkdir()
    link.symlink_to(ENTRY)
    done = run_entry(fake, "--help", exe=str(link))
    assert done.returncode == 0
    assert "Usage: kubectl prefect-rollback" in done.stdout
    done = run_entry(fake, "--to", "1.2.0", "--dry-run", exe=str(link))
    assert done.returncode == 0, done.stderr
    helm_help = run_entry(fake, "--help", env={"HELM_PLUGIN_NAME": "prefect-rollback"})
    assert "Usage: helm prefect-rollback" in helm_help.stdout


def test_verbose_echoes_argv_never_values(fake) -> None:
    done = fake.cli("-v", "rollback", "--to", "1.2.0", "--yes")
    assert done.exit_code == 0, done.stderr
    echoed = [line for line in done.stderr.splitlines() if line.startswith("$ ")]
    assert any(line.startswith("$ helm upgrade --install customer-managed") for line in echoed)
    assert any(line.startswith("$ kubectl scale --namespace customer-managed") for line in echoed)
    assert len(echoed) == len(fake.calls())
    assert "s3cr3t-values-password" not in done.stderr + done.stdout
    assert "hunter2-inline" not in done.stderr + done.stdout


def test_no_color(fake) -> None:
    done = fake.cli("history", env={"NO_COLOR": "1"})
    assert done.exit_code == 0 and "\x1b[" not in done.stdout + done.stderr


def test_use_colour(monkeypatch) -> None:
    from kubectl_prefect_rollback import output

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert output.use_colour() is True
    assert output.use_colour(no_color=True) is False
    monkeypatch.setenv("NO_COLOR", "")
    assert output.use_colour() is False


# --- read-only commands ---------------------------------------------------------------------------------


def test_revisions_table_and_spawns(fake) -> None:
    result = fake.cli("revisions")
    assert result.exit_code == 0, result.stderr
    assert len(fake.calls()) <= 3
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["DATABASE", "HEAD", "MIGRATIONS", "NEWEST", "FILE"]
    assert lines[1].split() == [
        "nebula",
        "3fab1acc05c0",
        "4",
        "2026_01_12_101500_3fab1acc05c0_add_sso_groups.py",
    ]
    assert lines[2].split()[:3] == ["orion", "2a2090e47993", "4"]
    assert "chart prefect-cloud-1.3.0" in result.stderr


def test_revisions_json_schema(fake) -> None:
    result = fake.cli("revisions", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len(fake.calls()) <= 3
    doc = json.loads(result.stdout)
    assert doc["apiVersion"] == "prefect-rollback/v1" and doc["kind"] == "Revisions"
    assert doc["release"] == {
        "name": "customer-managed",
        "namespace": "customer-managed",
        "chart": "prefect-cloud",
        "version": "1.3.0",
        "appVersion": "1.3.0",
        "revision": 3,
        "status": "deployed",
    }
    assert doc["source"]["container"] == "server" and doc["source"]["pod"].startswith(
        "customer-managed-server-"
    )
    assert {db: (e["present"], e["head"], e["count"]) for db, e in doc["databases"].items()} == {
        "nebula": (True, "3fab1acc05c0", 4),
        "orion": (True, "2a2090e47993", 4),
        "events": (True, "3b5402bd348f", 2),
    }


def test_revisions_all_yaml(fake) -> None:
    result = fake.cli("revisions", "--all", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    orion = yaml.safe_load(result.stdout)["databases"]["orion"]["migrations"]
    assert [m["revision"] for m in orion] == ["2a2090e47993", "91aa0c3e7d12", "5be81c0d2f34", "0c9d8e7f6a5b"]
    assert orion[0]["destructive"] is True and orion[1]["destructive"] is False
    table = fake.cli("revisions", "--all")
    assert "!  2a2090e47993" in table.stdout


def test_revisions_save_then_to(fake) -> None:
    result = fake.cli("revisions", "--save")
    assert result.exit_code == 0, result.stderr
    cm = fake.obj("configmap", "customer-managed-prefect-rollback-revisions")
    assert json.loads(cm["data"]["1.3.0"])["heads"]["nebula"] == "3fab1acc05c0"
    missing = fake.cli("revisions", "--to", "1.2.0")
    assert missing.exit_code == 1 and "no heads recorded for 1.2.0" in missing.stderr
    assert fake.cli("rollback", "--to", "1.2.0", "--dry-run").exit_code == 0  # the probe records nothing


def test_revisions_save_records_the_heads_even_when_the_cli_gives_no_usage_text(fake) -> None:
    with fake.edit() as st:
        st["downgrade_help"] = "sh: prefect-cloud: not found\n"
    result = fake.cli("revisions", "--save")
    assert result.exit_code == 0, result.stderr
    assert (
        "cannot tell whether the image's CLI needs -y; the heads are recorded without that answer"
        in result.stderr
    )
    entry = json.loads(fake.obj("configmap", "customer-managed-prefect-rollback-revisions")["data"]["1.3.0"])
    assert entry["heads"]["nebula"] == "3fab1acc05c0" and "cli" not in entry


def test_history(fake) -> None:
    result = fake.cli("history", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(r["revision"], r["version"], r["status"]) for r in doc["revisions"]] == [
        (1, "1.1.0", "superseded"),
        (2, "1.2.0", "superseded"),
        (3, "1.3.0", "deployed"),
    ]
    assert fake.cli("revisions", "--save").exit_code == 0
    table = fake.cli("history")
    row = next(line for line in table.stdout.splitlines() if line.startswith("3 "))
    assert "3fab1acc05c0" in row and "prefect-cloud-1.3.0" in row


def test_render_prints_only_the_job(fake) -> None:
    result = fake.cli("render", "--to", "1.2.0")
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["Job"]
    assert docs[0]["metadata"]["name"] == "customer-managed-downgrade-to-1-2-0"
    assert fake.mutations() == []


def test_plan_json(fake) -> None:
    result = fake.cli("plan", "--to", "1.2.0", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "Plan" and doc["from"]["version"] == "1.3.0" and doc["to"]["version"] == "1.2.0"
    assert [m["revision"] for m in doc["databases"]["orion"]["revert"]] == ["2a2090e47993", "91aa0c3e7d12"]
    assert doc["databases"]["events"]["revert"] == []
    assert [s["step"] for s in doc["steps"]][:4] == ["lock", "scale-down", "record", "downgrade"]
    assert doc["helm"]["valuesOnStdin"] is True
    assert "s3cr3t-values-password" not in result.stdout
    env = {
        e["name"]: e.get("value") for e in doc["jobs"][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "hunter2-inline" not in json.dumps(env)  # URL passwords are redacted
    assert fake.mutations() == []


def test_verbose_twice_in_one_process_echoes_once(fake) -> None:
    for _ in range(2):
        result = fake.cli("-v", "history")
        assert result.exit_code == 0, result.stderr
        assert result.stderr.count("$ helm history customer-managed") == 1, result.stderr
    import logging

    assert len(logging.getLogger("kubectl_prefect_rollback.proc").handlers) == 1


# -- the one error boundary ------------------------------------------------------------------------
def _explode(exc: Exception):
    def build(*a, **kw):
        raise exc

    return build


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("boom at postgres://u:leakpw@db/x"),
        KeyError("spec"),
        RecursionError(),
        TypeError("'NoneType'"),
    ],
    ids=["value", "key", "recursion", "type"],
)
def test_unexpected_exception_is_one_line_and_exit_1(fake, monkeypatch, exc: Exception) -> None:
    from kubectl_prefect_rollback import plan

    monkeypatch.setattr(plan, "assemble", _explode(exc))
    result = fake.cli("plan", "--to", "1.2.0")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Error: unexpected {type(exc).__name__}") and len(lines) == 2, lines
    assert lines[1].endswith("run with -v for the details.")
    assert "Traceback" not in result.stderr and "leakpw" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("-v",), {}),
        (("--debug",), {}),
        (
            (),
            {
                "HELM_PLUGIN_NAME": "prefect-rollback",
                "HELM_NAMESPACE": "customer-managed",
                "HELM_DEBUG": "true",
            },
        ),
    ],
    ids=["-v", "--debug", "HELM_DEBUG"],
)
def test_traceback_only_when_asked_for(fake, monkeypatch, args, env) -> None:
    from kubectl_prefect_rollback import plan

    monkeypatch.setattr(plan, "assemble", _explode(ValueError("boom at postgres://u:leakpw@db/x")))
    result = fake.cli("plan", "--to", "1.2.0", *args, env=env)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr and "ValueError" in result.stderr
    assert "leakpw" not in result.stderr  # the traceback is redacted too
    assert "Error: unexpected ValueError" in result.stderr and "run with -v" not in result.stderr


def test_conflict_from_a_concurrent_writer_is_exit_1_not_a_traceback(fake, monkeypatch) -> None:
    from kubectl_prefect_rollback import kube

    def lost(*a, **kw):
        raise kube.Conflict('Operation cannot be fulfilled on deployments "x": the object has been modified')

    monkeypatch.setattr(kube, "scale", lost)  # (a lost records write only warns: test_rollback)
    result = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Error: another writer changed the object at the same time" in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


def test_render_warns_about_literal_secrets_but_prints_them(fake) -> None:
    result = fake.cli("render", "--to", "1.2.0")
    assert result.exit_code == 0, result.stderr
    assert "hunter2-inline" in result.stdout  # meant for GitOps: the real manifest
    assert "the manifest holds literal secrets" in result.stderr and "hunter2-inline" not in result.stderr


def test_plan_text_and_json_hold_no_literal_secret(fake) -> None:
    for fmt in ("text", "json", "yaml"):
        result = fake.cli("plan", "--to", "1.2.0", "-o", fmt)
        assert result.exit_code == 0, result.stderr
        assert "hunter2-inline" not in result.stdout + result.stderr
        assert "s3cr3t-values-password" not in result.stdout + result.stderr


def test_finished_rollback_re_run_exits_0(fake) -> None:
    first = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert first.exit_code == 0, first.stderr
    fake.reset_calls()
    again = fake.cli("rollback", "--to", "1.2.0", "--yes")
    assert again.exit_code == 0, again.stderr
    assert again.stderr.strip() == "already rolled back to 1.2.0; databases at target heads"
    assert fake.mutations(probes=True) == []  # the heads were recorded by the first run: no probe either
    plan = fake.cli("plan", "--to", "1.2.0")
    assert plan.exit_code == 0 and "already rolled back to 1.2.0" in plan.stderr


def test_finished_rollback_with_a_lease_left_is_still_refused(fake) -> None:
    assert fake.cli("rollback", "--to", "1.2.0", "--yes").exit_code == 0
    with fake.edit() as st:
        st["objects"]["customer-managed/lease/customer-managed-prefect-rollback"] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "customer-managed-prefect-rollback",
                "namespace": "customer-managed",
                "resourceVersion": "9",
                "annotations": {"prefect-rollback/target-version": "1.1.0"},
            },
            "spec": {"holderIdentity": ""},
        }
    result = fake.cli("plan", "--to", "1.2.0")
    assert result.exit_code == 3, result.stderr
    assert (
        "the version already deployed" in result.stderr
        and "lease customer-managed-prefect-rollback" in result.stderr
    )


def test_helm_timeout_is_normalised_for_helm(fake) -> None:
    result = fake.cli("rollback", "--to", "1.2.0", "--yes", "--helm-timeout", "90")
    assert result.exit_code == 0, result.stderr
    upgrade = next(c["argv"] for c in fake.calls("helm") if c["argv"][0] == "upgrade")
    assert upgrade[upgrade.index("--timeout") + 1] == "1m30s"


def test_report_and_errors_hide_secrets_of_child_stderr(fake, tmp_path) -> None:
    fake.fail(
        "helm", r"^upgrade ", stderr="Error: UPGRADE FAILED: postgres://prefect:rep0rt-pw@db/x refused\n"
    )
    report = tmp_path / "report.json"
    result = fake.cli("rollback", "--to", "1.2.0", "--yes", "--report", str(report))
    assert result.exit_code == 5, result.stderr
    assert "postgres://prefect:<redacted>@db/x" in result.stderr
    assert "rep0rt-pw" not in result.stderr + result.stdout + report.read_text()
