"""The optional protocol of a SIMULATION provider, for the code that must treat one apart.

A SIMULATION teacher hands out prepared, labelled samples instead of asking a model. Two things
follow, and nothing else in pgkd needs to know:

- what it answers depends on what it handed out before (it never hands a sample out twice), so
  a resumed run gives it every answer the run's journal holds (``restore``) and it continues
  exactly as the uninterrupted run would. An LLM holds no such state;
- it cannot label a text it is shown, so ``pgkd compare`` refuses it.

The :class:`~pgkd.teachers.base.Teacher` base knows nothing of this: a provider opts in by
having these members, and callers check ``isinstance(teacher, SimulationProvider)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["SimulationProvider"]


@runtime_checkable
class SimulationProvider(Protocol):
    """A teacher that hands out a finite pool of prepared samples (see the module docstring)."""

    @property
    def left(self) -> int:
        """Prepared samples not handed out yet."""
        ...

    def restore(self, answers: Sequence[str]) -> None:
        """Called once when a run resumes, with the raw text of every answer this run's
        teacher sent (journaled replies, not cache hits), in the order they arrived: take out
        what they handed out, so later answers match an uninterrupted run's."""
        ...
