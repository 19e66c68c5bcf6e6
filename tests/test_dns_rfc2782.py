"""sipsimple_services.dns.rfc2782: SRV priority and weighted random order."""

from __future__ import annotations

import random
from collections import Counter

from sipsimple_services.dns.records import SRV
from sipsimple_services.dns.rfc2782 import order_srv


def srv(priority: int, weight: int, target: str) -> SRV:
    return SRV(priority, weight, 5060, target)


def test_priority_is_strict() -> None:
    records = [srv(30, 100, "c"), srv(10, 0, "a"), srv(20, 50, "b")]
    for seed in range(50):
        assert [r.target for r in order_srv(records, random.Random(seed))] == ["a", "b", "c"]


def test_every_record_appears_once() -> None:
    records = [srv(10, w, str(w)) for w in (0, 0, 1, 5, 50, 100)]
    for seed in range(100):
        ordered = order_srv(records, random.Random(seed))
        assert sorted(ordered, key=lambda r: r.target) == sorted(records, key=lambda r: r.target)


def test_weights_set_the_odds_of_going_first() -> None:
    records = [srv(10, 10, "ten"), srv(10, 30, "thirty"), srv(10, 60, "sixty")]
    rng = random.Random(2782)
    runs = 6000
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(runs))
    for target, weight in (("ten", 10), ("thirty", 30), ("sixty", 60)):
        assert abs(firsts[target] / runs - weight / 100) < 0.03, firsts


def test_second_place_follows_the_remaining_weights() -> None:
    # With "sixty" first, "thirty" should be second 3 times in 4 (30 / (30 + 10)).
    records = [srv(10, 10, "ten"), srv(10, 30, "thirty"), srv(10, 60, "sixty")]
    rng = random.Random(5)
    seconds: Counter[str] = Counter()
    for _ in range(8000):
        ordered = order_srv(records, rng)
        if ordered[0].target == "sixty":
            seconds[ordered[1].target] += 1
    share = seconds["thirty"] / sum(seconds.values())
    assert abs(share - 0.75) < 0.04, seconds


def test_zero_weight_has_a_small_chance() -> None:
    records = [srv(10, 0, "zero"), srv(10, 99, "heavy")]
    rng = random.Random(11)
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(5000))
    assert 0 < firsts["zero"] < 150  # about 1 in 100


def test_all_zero_weights_keep_every_record() -> None:
    records = [srv(10, 0, "a"), srv(10, 0, "b"), srv(10, 0, "c")]
    assert [r.target for r in order_srv(records, random.Random(0))] == ["a", "b", "c"]


def test_same_seed_same_order() -> None:
    records = [srv(10, w, str(i)) for i, w in enumerate((5, 10, 20, 40, 80))]
    assert order_srv(records, random.Random(99)) == order_srv(records, random.Random(99))


def test_dot_target_is_dropped_and_empty_input() -> None:
    assert order_srv([srv(0, 0, ".")], random.Random(0)) == []
    assert order_srv([], random.Random(0)) == []
