"""redact: the one redaction module. Each rule of the issue's list of gaps, for text, argv and documents."""

from __future__ import annotations

import pytest

from kubectl_prefect_rollback import proc, redact

R = redact.REDACTED


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("postgresql://prefect:hunter2@db:5432/x", "hunter2", "postgresql://prefect:<redacted>@db:5432/x"),
        ("postgres://u:p@ss@db/x", "p@ss", "postgres://u:<redacted>@db/x"),  # '@' in the password
        ("postgres://u:a/b/c@db:5432/x", "a/b/c", "postgres://u:<redacted>@db:5432/x"),  # '/' in it
        ("redis://:s3cret@redis:6379/0", "s3cret", "redis://:<redacted>@redis:6379/0"),
        ("host=db password=hunter2 user=x", "hunter2", "host=db password=<redacted> user=x"),  # libpq
        ("host=db password='a b\\' c' user=x", "a b", "host=db password=<redacted> user=x"),
        ("postgres://db/x?sslmode=require&password=qwe123", "qwe123", "&password=<redacted>"),
        ("export PGPASSWORD=hunter2; psql", "hunter2", "export PGPASSWORD=<redacted>; psql"),
        ('DB_PASS="x y" run', "x y", "DB_PASS=<redacted> run"),
        ("PGPASS=abc SMTP_PWD=def", "abc", "PGPASS=<redacted> SMTP_PWD=<redacted>"),
        ("GITHUB_TOKEN=ghp_1 PREFECT_API_KEY=pnu_2", "ghp_1", "PREFECT_API_KEY=<redacted>"),
        ('Error: {"password": "jsonpw"}', "jsonpw", '"password": <redacted>'),
        ("values:\n  db_pass: yamlpw\n", "yamlpw", "db_pass: <redacted>"),
        ("kubectl --token abc123 get", "abc123", "--token <redacted>"),
        ("helm --password=xyz pull", "xyz", "--password=<redacted>"),
    ],
)
def test_text_hides_secrets(text: str, secret: str, kept: str) -> None:
    out = redact.text(text)
    assert secret not in out and kept in out, out


@pytest.mark.parametrize(
    "text",
    [
        "Error: release customer-managed is pending-upgrade",
        "Fix or remove that key: kubectl edit configmap x -n ns",  # prose with "key:" stays readable
        "https://charts.example:8443/index.yaml not found",
        "alice@bastion/1a2b3c4d renewed 3s ago",
    ],
)
def test_text_leaves_harmless_words(text: str) -> None:
    assert redact.text(text) == text


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["helm", "upgrade", "--set", "db.password=x"], ["helm", "upgrade", "--set", R]),
        (["helm", "--set-string=a=b"], ["helm", f"--set-string={R}"]),
        (["kubectl", "--token", "abc", "get"], ["kubectl", "--token", R, "get"]),
        (["x", "DB_PASSWORD=hunter2", "name=ok"], ["x", f"DB_PASSWORD={R}", "name=ok"]),
        (["x", "DB_PASS=1", "PGPASS=2", "SMTP_PWD=3"], ["x", f"DB_PASS={R}", f"PGPASS={R}", f"SMTP_PWD={R}"]),
        (
            ["sh", "-c", "export PGPASSWORD=hunter2\nexec psql"],
            ["sh", "-c", f"export PGPASSWORD={R}\nexec psql"],
        ),
    ],
)
def test_argv(argv: list[str], want: list[str]) -> None:
    assert redact.argv(argv) == want
    assert proc.redact_argv(argv) == want  # proc's echo is this very function


def test_document_env_secret_data_and_keys() -> None:
    doc = {
        "kind": "Secret",
        "data": {"password": "aGk="},
        "stringData": {"k": "v"},
        "spec": {
            "env": [
                {"name": "DB_PASS", "value": "p1"},
                {"name": "PGPASS", "value": "p2"},
                {"name": "SMTP_PWD", "value": "p3"},
                {"name": "URL", "value": "postgres://u:p@4/x@db/x"},
                {"name": "DSN_OPTS", "value": "password=p5"},
                {"name": "PLAIN", "value": "hello"},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            ],
            "command": ["sh", "-c", "export PGPASSWORD=p6; run"],
            "apiToken": "p7",
            "secretName": "tls-secret",
        },
    }
    out = redact.doc(doc)
    text = repr(out)
    for secret in ("aGk=", "p1", "p2", "p3", "p@4", "p5", "p6", "p7"):
        assert secret not in text, secret
    assert out["stringData"] == {"k": R}
    env = {e["name"]: e for e in out["spec"]["env"]}
    assert env["PLAIN"]["value"] == "hello"
    assert env["FROM_SECRET"] == doc["spec"]["env"][-1]  # a reference names a Secret, it holds none
    assert out["spec"]["secretName"] == "tls-secret"
    assert redact.holds_secrets(doc) and not redact.holds_secrets({"spec": {"env": [env["PLAIN"]]}})


def test_command_error_hides_secrets_of_child_stderr() -> None:
    e = proc.CommandError(
        ["helm", "upgrade", "--set", "db.password=argvpw"], 1, "Error: postgres://u:stderrpw@db/x refused"
    )
    assert "stderrpw" not in e.stderr and "stderrpw" not in str(e) and "argvpw" not in str(e)
    assert all("stderrpw" not in str(a) for a in e.args)


def test_migration_log_lines_are_redacted_before_they_are_shown(capsys) -> None:
    from kubectl_prefect_rollback.output import Output

    Output().log_line("orion", 1, "INFO sqlalchemy.engine connect postgresql://prefect:l0g-pw@db:5432/orion")
    Output().log_line("events", 2, "+ export PGPASSWORD=l0g-pw2")
    err = capsys.readouterr().err
    assert "l0g-pw" not in err and err.count(R) == 2, err
    assert "[orion] INFO sqlalchemy.engine connect postgresql://prefect:<redacted>@db:5432/orion" in err
