import datetime as dt
from collections import Counter

from crm_leads.assignment.rules import (
    RepView,
    availability,
    pick_least_loaded,
    pick_round_robin,
    pick_weighted,
    rule_matches,
    validate_conditions,
    validate_working_hours,
)

NOON_WED = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # a Wednesday


def test_round_robin_is_exact_and_skips_unavailable_reps() -> None:
    pool = ["a", "b", "c", "d", "e"]
    counter, picks = 0, []
    for _ in range(200):
        rep, counter = pick_round_robin(pool, set(pool), counter)
        picks.append(rep)
    assert Counter(picks) == {r: 40 for r in pool}
    assert picks[:6] == ["a", "b", "c", "d", "e", "a"]
    counter, picks = 0, []
    for _ in range(8):
        rep, counter = pick_round_robin(pool, {"a", "c", "e"}, counter)
        picks.append(rep)
    assert picks == ["a", "c", "e", "a", "c", "e", "a", "c"]
    assert pick_round_robin(pool, set(), 3) == (None, 3)


def test_least_loaded_prefers_fewest_open_leads_and_alternates_ties() -> None:
    pool = ["a", "b", "c"]
    assert pick_least_loaded(pool, set(pool), {"a": 5, "b": 2, "c": 9}, 0)[0] == "b"
    first, counter = pick_least_loaded(pool, set(pool), {}, 0)
    second, _ = pick_least_loaded(pool, set(pool), {}, counter)
    assert (first, second) == ("a", "b")
    assert pick_least_loaded(pool, {"c"}, {"c": 100}, 0)[0] == "c"


def test_weighted_capacity_gives_exact_interleaved_shares() -> None:
    pool, weights, current = ["a", "b", "c"], {"a": 5, "b": 1, "c": 1}, {}
    picks = [pick_weighted(pool, set(pool), weights, current) for _ in range(70)]
    assert Counter(picks) == {"a": 50, "b": 10, "c": 10}
    assert picks[:7].count("a") == 5 and "b" in picks[:7] and "c" in picks[:7]


def test_availability_reasons() -> None:
    assert availability(RepView("a"), NOON_WED) == (True, "available")
    assert availability(RepView("a", active=False), NOON_WED) == (False, "inactive")
    vacation = RepView("a", vacation_from=dt.date(2026, 11, 20), vacation_until=dt.date(2026, 11, 30))
    assert availability(vacation, NOON_WED) == (False, "on vacation")
    tehran = RepView("a", timezone="Asia/Tehran", working_hours={"wed": [["08:00", "14:00"]]})
    assert availability(tehran, NOON_WED) == (False, "outside working hours")  # 15:30 in Tehran
    assert availability(tehran, NOON_WED - dt.timedelta(hours=4))[0] is True
    assert availability(RepView("a", max_open_leads=3), NOON_WED, open_leads=3) == (False, "at capacity")


def test_rule_conditions() -> None:
    lead = {"source": "Web", "country": "IR", "annual_revenue": "250000", "custom_fields": {"tier": "gold"}}
    assert rule_matches([], lead)
    assert rule_matches([{"field": "source", "op": "eq", "value": "web"}], lead)
    assert rule_matches([{"field": "country", "op": "in", "value": ["IR", "IL"]}], lead)
    assert rule_matches([{"field": "annual_revenue", "op": "gte", "value": 100000}], lead)
    assert not rule_matches([{"field": "annual_revenue", "op": "gt", "value": 300000}], lead)
    assert rule_matches([{"field": "custom.tier", "op": "eq", "value": "gold"}], lead)
    assert not rule_matches([{"field": "industry", "op": "eq", "value": "retail"}], lead)
    assert rule_matches([{"field": "industry", "op": "ne", "value": "retail"}], lead)
    errors = validate_conditions(
        [{"field": "nope", "op": "eq"}, {"field": "country", "op": "in", "value": "IR"}]
    )
    assert set(errors) == {"conditions.0.field", "conditions.1.value"}
    assert validate_working_hours({"mon": [["09:00", "17:00"]]}) == {}
    assert set(validate_working_hours({"xyz": [], "tue": [["18:00", "09:00"]]})) == {
        "working_hours.xyz",
        "working_hours.tue.0",
    }
