"""Whole counts that sum to the batch, a floor for every class, caps, and the rotation."""

from __future__ import annotations

import pytest

from pgkd_budget import BudgetOptions, Rotation, apportion, plan_shares
from pgkd_budget.allocation import hard_floor


@pytest.mark.parametrize("total", [0, 1, 7, 8, 32, 100])
@pytest.mark.parametrize("n_classes", [1, 3, 41])
def test_apportion_sums_exactly_to_the_total(total: int, n_classes: int) -> None:
    weights = {f"c{i}": (i % 5) / 7 + 0.01 for i in range(n_classes)}
    counts = apportion(weights, total)
    assert sum(counts.values()) == total
    assert all(count >= 0 for count in counts.values())


def test_apportion_is_largest_remainder() -> None:
    # Quotas 4.2, 2.1, 1.7 of 8: whole parts 4, 2, 1 and the one seat left to the 0.7 remainder.
    assert apportion({"a": 4.2, "b": 2.1, "c": 1.7}, 8) == {"a": 4, "b": 2, "c": 2}


def test_apportion_gives_the_minimum_then_splits_the_rest() -> None:
    counts = apportion({"a": 10.0, "b": 0.0, "c": 0.0}, 8, minimum=2)
    assert counts == {"a": 4, "b": 2, "c": 2}
    with pytest.raises(ValueError, match="exceeds"):
        apportion({"a": 1.0, "b": 1.0}, 3, minimum=2)


def test_apportion_respects_caps_and_hands_the_rest_on() -> None:
    counts = apportion({"a": 8.0, "b": 1.0, "c": 1.0}, 8, caps={"a": 2})
    assert counts["a"] == 2 and sum(counts.values()) == 8
    assert apportion({"a": 1.0, "b": 1.0}, 8, caps={"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_apportion_with_no_weight_splits_evenly() -> None:
    assert apportion({"a": 0.0, "b": 0.0}, 4) == {"a": 2, "b": 2}


def test_ties_are_broken_by_weight_then_order() -> None:
    assert apportion({"a": 1.0, "b": 1.0, "c": 1.0}, 2) == {"a": 1, "b": 1, "c": 0}
    assert apportion({"a": 1.0, "b": 2.0, "c": 1.0}, 1) == {"a": 0, "b": 1, "c": 0}


def test_plan_shares_mix_floor_prior_and_weakness() -> None:
    options = BudgetOptions(floor_share=0.5, prior_share=0.25)
    shares = plan_shares({"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}, options)
    assert shares == pytest.approx({"a": 0.25 + 0.25, "b": 0.25 + 0.25})
    shares = plan_shares({"a": 1.0, "b": 0.0}, {"a": 0.5, "b": 0.5}, options)
    assert shares == pytest.approx({"a": 0.625, "b": 0.375})
    assert sum(shares.values()) == pytest.approx(1.0)


def test_hard_floor_is_the_whole_part_of_the_even_floor() -> None:
    assert hard_floor(32, 4, 0.25) == 2
    assert hard_floor(8, 41, 0.25) == 0
    assert hard_floor(8, 0, 0.25) == 0


def test_rotation_follows_fractional_targets_over_steps() -> None:
    rotation = Rotation()
    target = {"a": 0.3, "b": 0.3, "c": 7.4}
    totals = dict.fromkeys(target, 0)
    for _ in range(10):
        counts = rotation.take(target, 8)
        assert sum(counts.values()) == 8
        for label, count in counts.items():
            totals[label] += count
    assert totals == {"a": 3, "b": 3, "c": 74}


def test_rotation_reset_forgets_the_carry() -> None:
    rotation = Rotation()
    rotation.take({"a": 0.5, "b": 0.5}, 1)
    assert any(rotation.carry.values())
    rotation.reset(["a", "b"])
    assert rotation.carry == {"a": 0.0, "b": 0.0}
