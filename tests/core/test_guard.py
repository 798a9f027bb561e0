from __future__ import annotations

import pytest

from pgkd.errors import LeakageError
from pgkd.guard import HeldOutGuard

HELD = [
    "The central bank raised interest rates by half a point on Thursday",
    "Short held out text here",
]


def test_exact_and_near_copies_are_caught_case_and_punctuation_blind() -> None:
    guard = HeldOutGuard(HELD)
    assert (
        guard.copy_kind("the central bank raised interest rates by half a point on thursday!")
        == "exact"
    )
    assert (
        guard.copy_kind("The central bank raised interest rates by half a point on Thursday night")
        == "near"
    )
    assert guard.copy_kind("A striker scored twice in the final minutes") is None


def test_prompt_check_refuses_a_held_out_passage() -> None:
    guard = HeldOutGuard(HELD)
    guard.check_prompt("Labels: economy, sports. Write 8 examples.")
    with pytest.raises(LeakageError):
        guard.check_prompt(
            'Examples:\n- "central bank raised interest rates by half a point" -> economy'
        )
    with pytest.raises(LeakageError):
        guard.check_prompt("- short held-out text here -> x")


def test_threshold_controls_near_copies() -> None:
    strict = HeldOutGuard(HELD, near_copy_threshold=1.0)
    assert (
        strict.copy_kind("The central bank raised interest rates by half a point on Thursday night")
        is None
    )
