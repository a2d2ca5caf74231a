"""Label and field selectors as clients send them."""

import pytest

from kubesim import selectors

POD = {"metadata": {"name": "p", "labels": {"app": "x", "tier": "web"}}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    "label,field,want",
    [
        ("app=x", "", True),
        ("app==x", "", True),
        ("app!=x", "", False),
        ("app=y", "", False),
        ("app in (x,y)", "", True),
        ("app notin (x)", "", False),
        ("tier", "", True),
        ("!tier", "", False),
        ("app=x,tier=web", "", True),
        ("app=x,tier in (db)", "", False),
        ("", "metadata.name=p", True),
        ("", "metadata.name=q", False),
        ("", "status.phase!=Running", False),
        ("app=x", "metadata.name=p,status.phase=Running", True),
    ],
)
def test_matcher(label, field, want):
    assert selectors.matcher(label, field)(POD) is want


def test_from_label_selector():
    sel = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["x", "y"]},
            {"key": "d", "operator": "DoesNotExist"},
        ],
    }
    assert selectors.from_label_selector(sel) == "a=1,b=2,c in (x,y),!d"


def test_bad_selector_raises():
    with pytest.raises(ValueError):
        selectors.matcher("a in b", "")
