"""What users read, byte for byte: `plan` (text, -o json, -o yaml), `revisions`, `history` and the
rollback's stderr and `--report` file, in a few worlds, against tests/data/golden/cli/<world>/<view>.

Every file is produced by the CLI itself (click's runner, in-process) against the fake kubectl and helm of
tests/fakes, never by calling the package's functions: the files pin what the commands print, whatever the
code behind them looks like. Text views are transcripts (argv, exit code, stdout, stderr); -o json/yaml
views are stdout alone (stderr must then be empty) so the file is the document itself.

Regenerate with `make golden` (tests/golden.py) and review the diff. Only what changes from run to run is
normalised, by the substitutions in `VOLATILE` and `normalise_report`: step durations and the total time,
the order in which the downgrade Job's containers' log lines arrive, the report's seconds and process count,
and the test's temp folder.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable

import pytest

from tests.golden import GOLDEN, assert_golden

PROG = "kubectl-prefect_rollback"
DIR = GOLDEN / "cli"
TO = ("--to", "1.2.0")
REPORT = "report.json"  # relative: written in the fake's work folder

# (pattern, replacement), applied in order to every transcript
VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?m)^([✔✘].*  )\d+(?:\.\d+)?s$"), r"\1<seconds>s"),  # "✔ lock released  0.1s"
    (re.compile(r"(?m)^(Rolled back .* in )\d+(?:\.\d+)?s\.$"), r"\1<seconds>s."),
]
JOB_LOG = re.compile(r"^  \[(nebula|orion|events)\] ")  # containers stream concurrently


# -- the worlds ----------------------------------------------------------------------------------------------
def _edit_listing(fake, version: str, edit: Callable[[list[str]], list[str]]) -> None:
    """The migrations listing of `version`'s server image (what exec and the probe pod print)."""
    with fake.edit() as st:
        key = next(k for k in st["listings"] if k.endswith(f":{version}"))
        st["listings"][key] = "".join(edit(st["listings"][key].splitlines(keepends=True)))


def _without_events(lines: list[str]) -> list[str]:
    folder = next(line for line in lines if line.startswith("events\tfolder\t")).split("\t")[2].rstrip("\n")
    kept = [line for line in lines if not line.startswith("events\t")]
    return [*kept[:-1], f"events\tabsent\t{folder}\n", kept[-1]]  # before "#end"


def no_drops(fake) -> None:
    """orion's 2a2090e47993 no longer drops a table: nothing reverted destroys data."""
    _edit_listing(fake, "1.3.0", lambda ls: [x for x in ls if not x.startswith("orion\tdrop\t2026_01_20")])


def nothing_to_revert(fake) -> None:
    """1.2.0's image ships 1.3.0's migrations: a chart-only rollback."""
    with fake.edit() as st:
        listings = st["listings"]
        current = next(k for k in listings if k.endswith(":1.3.0"))
        listings[next(k for k in listings if k.endswith(":1.2.0"))] = listings[current]


def events_absent(fake) -> None:
    """Neither release has the events database."""
    for version in ("1.3.0", "1.2.0"):
        _edit_listing(fake, version, _without_events)


def events_absent_in_target(fake) -> None:
    """Only the target lacks events: reverting would drop its whole schema, so it is refused."""
    _edit_listing(fake, "1.2.0", _without_events)


def backups_unconfirmed(fake) -> None:
    fake.mp.delenv("PREFECT_ROLLBACK_BACKUPS_CONFIRMED", raising=False)  # tests/conftest.py sets it


def rolled_back(fake) -> None:
    """After a finished rollback to 1.2.0 (the records now hold both releases' heads)."""
    result = fake.cli("rollback", *TO, "--yes")
    assert result.exit_code == 0, result.stderr


WORLDS: dict[str, Callable | None] = {
    "drops-data": None,  # the default world: 1.3.0 -> 1.2.0 reverts orion 2a2090e47993, which drops a table
    "no-drops": no_drops,
    "nothing-to-revert": nothing_to_revert,
    "events-absent": events_absent,
    "events-absent-in-target": events_absent_in_target,
    "backups-unconfirmed": backups_unconfirmed,
}

VIEWS: dict[str, tuple[str, ...]] = {
    "plan.txt": ("plan", *TO),
    "plan.json": ("plan", *TO, "-o", "json"),
    "plan.yaml": ("plan", *TO, "-o", "yaml"),
    "revisions.txt": ("revisions",),
    "revisions.json": ("revisions", "-o", "json"),
    "revisions-all.txt": ("revisions", "--all"),
    "revisions-all.json": ("revisions", "--all", "-o", "json"),
    "history.txt": ("history",),
    "history.json": ("history", "-o", "json"),
}
PLAN = ["plan.txt", "plan.json", "plan.yaml"]
READS = [v for v in VIEWS if not v.startswith("plan")]
CASES = (
    [
        (world, view)
        for world in ("drops-data", "no-drops", "nothing-to-revert", "events-absent")
        for view in PLAN
    ]
    + [("events-absent-in-target", "plan.txt")]
    + [("drops-data", view) for view in READS]
    + [("events-absent", "revisions.txt"), ("events-absent", "revisions.json")]
)
ROLLED_BACK = ["plan.txt", "revisions.txt", "history.txt", "history.json"]  # views after rolled_back()
# rollback.txt (the transcript) and, when it got that far, report.json
ROLLBACKS = ["drops-data", "no-drops", "nothing-to-revert", "events-absent", "backups-unconfirmed"]


# -- rendering -----------------------------------------------------------------------------------------------
def _block(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n\\ no newline at end\n"


def _sort_job_logs(text: str) -> str:
    out: list[str] = []
    run: list[str] = []
    for line in [*text.splitlines(keepends=True), ""]:
        if JOB_LOG.match(line):
            run.append(line)
            continue
        out += sorted(run) + [line]
        run = []
    return "".join(out)


def normalise(text: str, fake) -> str:
    text = text.replace(str(fake.tmp), "$TMP")
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return _sort_job_logs(text)


def transcript(fake, args: tuple[str, ...], result) -> str:
    head = f"$ {PROG} {shlex.join(args)}\n# exit {result.exit_code}\n"
    return normalise(f"{head}# stdout\n{_block(result.stdout)}# stderr\n{_block(result.stderr)}", fake)


def normalise_report(text: str) -> str:
    doc = json.loads(text)
    seconds = [s["seconds"] for s in doc["steps"]] + [doc["seconds"], doc["waitedSeconds"]]
    assert all(isinstance(s, (int, float)) and s >= 0 for s in seconds), seconds
    assert isinstance(doc["processes"], int) and doc["processes"] > 0, doc["processes"]
    text = re.sub(r'(?m)^(\s*"(?:seconds|waitedSeconds)": )\d+(?:\.\d+)?(,?)$', r'\1"<seconds>"\2', text)
    return re.sub(r'(?m)^(\s*"processes": )\d+(,?)$', r'\1"<count>"\2', text)


def world(fake, name: str):
    setup = WORLDS[name]
    if setup:
        setup(fake)
    return fake


# -- the tests -----------------------------------------------------------------------------------------------
def check_view(fake, name: str, view: str) -> None:
    args = VIEWS[view]
    result = fake.cli(*args)
    if view.endswith(".txt"):
        got = transcript(fake, args, result)
    else:  # a document: all of it on stdout, nothing on stderr
        assert (result.exit_code, result.stderr) == (0, ""), result.stderr
        got = normalise(result.stdout, fake)
    assert_golden(DIR / name / view, got)


@pytest.mark.parametrize(("name", "view"), CASES, ids=[f"{w}/{v}" for w, v in CASES])
def test_command_output_matches_golden(fake, name: str, view: str) -> None:
    check_view(world(fake, name), name, view)


def test_after_a_rollback_command_outputs_match_golden(fake) -> None:
    """One rollback, then every view of that world (a rollback per view would take four times as long);
    every differing file is reported, not only the first."""
    rolled_back(fake)
    failures = []
    for view in ROLLED_BACK:
        try:
            check_view(fake, "rolled-back", view)
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.mark.parametrize("name", ROLLBACKS)
def test_rollback_transcript_and_report_match_golden(fake, name: str) -> None:
    args = ("rollback", *TO, "--yes", "--report", REPORT)
    result = world(fake, name).cli(*args)
    report = fake.work / REPORT
    assert_golden(DIR / name / "rollback.txt", transcript(fake, args, result))
    assert report.exists() == (result.exit_code == 0), result.stderr  # refused before it began: no report
    if report.exists():
        assert_golden(DIR / name / "report.json", normalise_report(report.read_text()))


def test_every_golden_file_under_cli_belongs_to_a_case() -> None:
    """A world or view dropped from this file must take its golden file with it (no stale files)."""
    want = {DIR / w / v for w, v in [*CASES, *(("rolled-back", v) for v in ROLLED_BACK)]}
    want |= {DIR / w / "rollback.txt" for w in ROLLBACKS}
    have = {p for p in DIR.rglob("*") if p.is_file()}
    assert have - want <= {DIR / w / "report.json" for w in ROLLBACKS}, sorted(map(str, have - want))
    assert want <= have, sorted(map(str, want - have))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("✔ lock released  0.1s\n", "✔ lock released  <seconds>s\n"),
        ("✔ downgrade: nebula exit 0  12s\n", "✔ downgrade: nebula exit 0  <seconds>s\n"),
        (
            "Rolled back r from 1.3.0 to 1.2.0 in 1.8s.\n",
            "Rolled back r from 1.3.0 to 1.2.0 in <seconds>s.\n",
        ),
        ("  --timeout 10m  0.1s\n", "  --timeout 10m  0.1s\n"),  # only progress lines lose their durations
        ("  [orion] b\n  [nebula] a\nx\n  [events] c\n", "  [nebula] a\n  [orion] b\nx\n  [events] c\n"),
    ],
)
def test_normalise_replaces_only_volatile_parts(fake, text: str, want: str) -> None:
    assert normalise(text, fake) == want


def test_normalise_report_keeps_everything_but_times_and_process_count() -> None:
    doc = {"steps": [{"name": "lock", "seconds": 0.115}], "seconds": 1.2, "waitedSeconds": 0, "processes": 42}
    got = json.loads(normalise_report(json.dumps(doc, indent=2)))
    assert got == {
        "steps": [{"name": "lock", "seconds": "<seconds>"}],
        "seconds": "<seconds>",
        "waitedSeconds": "<seconds>",
        "processes": "<count>",
    }
