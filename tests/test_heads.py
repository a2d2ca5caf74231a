"""heads.py: the listing exec and its fallbacks (sh, the app's Python), and the -y sniffing."""

from __future__ import annotations

import pytest

from kubectl_prefect_rollback import heads
from kubectl_prefect_rollback.errors import ParseError


def test_yes_flag_detection() -> None:
    help_text = (
        heads.HELP_MARK + "\nUsage: prefect-cloud nebula database downgrade [OPTIONS]\n  -y, --yes  Skip\n"
    )
    assert heads._YES.search(help_text.partition(heads.HELP_MARK + "\n")[2])
    assert not heads._YES.search("Usage: downgrade [OPTIONS]\n  -r, --revision TEXT\n  --yesterday\n")


@pytest.mark.parametrize("answer", ["", "\x00\x01garbage", "sh: prefect-cloud: not found\n"])
def test_an_unusable_downgrade_help_is_refused_naming_the_command_not_read_as_no_yes_flag(
    answer: str,
) -> None:
    with pytest.raises(ParseError) as e:
        heads._yes_flag(answer, "kubectl exec server-0 --container server")
    assert "kubectl exec server-0 --container server" in e.value.message
    assert "cannot tell whether the image's CLI needs -y" in e.value.message


@pytest.mark.parametrize("text", ["", "garbage\n", "<html>502</html>"])
def test_a_garbled_listing_names_where_it_came_from(text: str) -> None:
    with pytest.raises(ParseError) as e:
        heads.split(text, with_help=False, source="kubectl logs p1 (the probe pod)")
    assert e.value.message.startswith("kubectl logs p1 (the probe pod) printed no usable migration listing")


@pytest.mark.parametrize(
    ("stderr", "program", "missing"),
    [
        ('OCI runtime exec failed: exec: "sh": executable file not found in $PATH: unknown', "sh", True),
        ("bwrap: execvp sh: No such file or directory", "sh", True),
        ("bwrap: execvp python3: No such file or directory", "python3", True),
        ("/bin/sh: 1: awk: not found", "sh", False),  # sh ran: its own error is not "no sh"
        ("sh: 3: cannot open /x/shared.py: No such file", "sh", False),
        ('exec: "python3": executable file not found in $PATH', "sh", False),
    ],
)
def test_missing_program_is_told_apart_from_a_failure_of_the_program(
    stderr: str, program: str, missing: bool
) -> None:
    assert heads.missing_program(stderr, program) is missing


def test_ways_try_sh_then_the_containers_own_python_then_python3() -> None:
    argvs = heads.ways(("/usr/local/bin/python3.12", "-m", "prefect_cloud"))
    assert [a[0] for a in argvs] == ["sh", "/usr/local/bin/python3.12", "python3", "python"]
    assert argvs[0][1] == "-c" and argvs[1][1:3] == ("-c", heads.listing.PY_ARG)
    assert [a[0] for a in heads.ways(("prefect-cloud", "server"))] == ["sh", "python3", "python"]


def test_a_listing_falls_back_only_when_the_program_is_missing_and_remembers_the_way() -> None:
    from kubectl_prefect_rollback import proc

    calls: list[str] = []

    def run(argv: tuple) -> str:
        calls.append(argv[0])
        if argv[0] == "sh":
            raise proc.CommandError(["kubectl", "exec"], 1, "bwrap: execvp sh: No such file or directory")
        return f"listed by {argv[0]}"

    argvs = heads.ways(())
    assert heads._first_that_starts(("pod-a", "server"), argvs, run) == "listed by python3"
    assert heads._first_that_starts(("pod-a", "server"), argvs, run) == "listed by python3"
    assert calls == ["sh", "python3", "python3"]  # the second listing went straight to python3

    def broken(argv: tuple) -> str:
        raise proc.CommandError(["kubectl", "exec"], 3, "listing failed: boom")

    with pytest.raises(proc.CommandError, match="boom"):
        heads._first_that_starts(("pod-b", "server"), argvs, broken)  # not a missing program: no retry


def test_the_help_check_without_a_shell_prints_the_marker_and_the_clis_usage(tmp_path) -> None:
    import subprocess
    import sys

    cli = tmp_path / "prefect-cloud"
    cli.write_text("#!/bin/sh\necho 'usage: prefect-cloud nebula database downgrade [-y] -r REV'\n")
    cli.chmod(0o755)
    out = subprocess.run(
        [sys.executable, "-c", heads.HELP_PY], capture_output=True, text=True, env={"PATH": str(tmp_path)}
    ).stdout
    assert out.startswith(heads.HELP_MARK + "\n") and heads._yes_flag(out, "test") is True


def test_the_shell_less_probe_lists_and_asks_for_help_in_one_python(tmp_path) -> None:
    import subprocess
    import sys

    versions = tmp_path / "root" / "orion/migrations/versions"
    versions.mkdir(parents=True)
    (versions / "a.py").write_text('revision = "a0000000000a"\ndown_revision = None\n')
    cli = tmp_path / "bin" / "prefect-cloud"
    cli.parent.mkdir()
    cli.write_text("#!/bin/sh\necho 'usage: prefect-cloud nebula database downgrade -r REV'\n")
    cli.chmod(0o755)
    python, flag, code, _, via = heads.ways((), with_help=True)[1]
    assert (python, flag) == ("python3", "-c")
    argv = [sys.executable, flag, code, str(tmp_path / "root"), via]
    out = subprocess.run(argv, capture_output=True, text=True, env={"PATH": str(cli.parent)}).stdout
    found = heads.split(out, with_help=True, source="test")
    assert found.chains["orion"].head == "a0000000000a" and found.yes_flag is False
    assert found.via == "python python3"
