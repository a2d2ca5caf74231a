import pytest

from kubectl_prefect_rollback import durations
from kubectl_prefect_rollback.errors import BadInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5), ("1.5s", 1.5), (" 2m ", 120)],
)
def test_parse_accepts_go_durations_and_bare_seconds(text: str, seconds: float) -> None:
    assert durations.parse(text, flag="--timeout") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["garbage", "", "-1s", "0", "0s", "10x", "m", "1h-2m", "1e3"])
def test_parse_refuses_garbage_zero_and_negative_naming_the_flag(text: str) -> None:
    with pytest.raises(BadInput) as e:
        durations.parse(text, flag="--helm-timeout")
    assert "--helm-timeout" in e.value.message


def test_parse_without_bare_seconds_wants_a_unit() -> None:
    with pytest.raises(BadInput):
        durations.parse("30", flag="--helm-timeout", allow_bare_seconds=False)


@pytest.mark.parametrize(("seconds", "text"), [(600, "10m"), (5400, "1h30m"), (0.5, "500ms"), (61, "1m1s")])
def test_go_formats_what_helm_accepts(seconds: float, text: str) -> None:
    assert durations.go(seconds) == text
    assert durations.parse(text, flag="x") == pytest.approx(seconds)
