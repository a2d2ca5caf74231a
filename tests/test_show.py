from __future__ import annotations

import pytest

from kubectl_prefect_rollback import output, show


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('op.drop_table("service_account")', "table service_account"),
        ("op.drop_column('account', 'sso_domain')", "column account.sso_domain"),
        ('batch_op.drop_column("c")', "column c.?"),
        ('op.execute("DROP TABLE y")', 'op.execute("DROP TABLE y")'),
    ],
)
def test_dropped(line: str, shown: str) -> None:
    assert show._dropped(line) == shown


def test_table_and_duration() -> None:
    assert output.table(["A", "LONGER"], [["x", 1], ["yyy", None]]).splitlines() == [
        "A    LONGER",
        "x    1",
        "yyy",
    ]
    assert [output.duration(s) for s in (0.04, 12.34, 72, 3725)] == ["0.0s", "12.3s", "1m12s", "1h02m"]
