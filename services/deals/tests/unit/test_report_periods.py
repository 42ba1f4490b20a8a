"""How a report period splits into whole months (read from the rollups) and edge days (read from rows)."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_deals.reports.repository import split_period

D = dt.date


@pytest.mark.parametrize(
    ("start", "end", "rollup", "months", "edges"),
    [
        (None, None, True, (None, None), []),
        (D(2027, 2, 1), D(2027, 3, 31), True, (D(2027, 2, 1), D(2027, 4, 1)), []),
        (
            D(2027, 1, 15),
            D(2027, 4, 10),
            True,
            (D(2027, 2, 1), D(2027, 4, 1)),
            [(D(2027, 1, 15), D(2027, 2, 1)), (D(2027, 4, 1), D(2027, 4, 11))],
        ),
        (D(2027, 2, 3), D(2027, 2, 20), False, (None, None), [(D(2027, 2, 3), D(2027, 2, 21))]),
        (  # two part-months side by side: no whole month
            D(2027, 1, 20),
            D(2027, 2, 10),
            False,
            (D(2027, 2, 1), D(2027, 2, 1)),
            [(D(2027, 1, 20), D(2027, 2, 1)), (D(2027, 2, 1), D(2027, 2, 11))],
        ),
        (D(2027, 2, 10), None, True, (D(2027, 3, 1), None), [(D(2027, 2, 10), D(2027, 3, 1))]),
        (None, D(2027, 2, 10), True, (None, D(2027, 2, 1)), [(D(2027, 2, 1), D(2027, 2, 11))]),
        (None, D(2027, 2, 28), True, (None, D(2027, 3, 1)), []),
        (
            D(2026, 12, 31),
            D(2027, 1, 1),
            False,
            (D(2027, 1, 1), D(2027, 1, 1)),
            [
                (D(2026, 12, 31), D(2027, 1, 1)),
                (D(2027, 1, 1), D(2027, 1, 2)),
            ],
        ),
        (D(2028, 2, 1), D(2028, 2, 29), True, (D(2028, 2, 1), D(2028, 3, 1)), []),  # leap day ends February
    ],
)
def test_split_period(start, end, rollup, months, edges):
    period = split_period(start, end)
    assert period.rollup is rollup
    if rollup or months != (None, None):
        assert (period.months_from, period.months_to) == months
    assert period.edges == edges
