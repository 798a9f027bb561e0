"""How the ``on_step_end`` hook's answers combine (its hookspec in :mod:`pgkd.hookspecs` says
the same): every answer is collected; any ``stop`` stops the run, with the stopping answers'
reasons joined in call order; the step's student is the best so far if any plugin says so, or if
no plugin gives an opinion."""

from __future__ import annotations

from collections.abc import Sequence

from pgkd.types import StepVerdict


def combine_verdicts(verdicts: Sequence[StepVerdict | None]) -> StepVerdict:
    """Any ``stop`` stops; the step is best if any plugin says so or none has an opinion."""
    given = [v for v in verdicts if v is not None]
    opinions = [v.is_best for v in given if v.is_best is not None]
    stop = [v for v in given if v.stop]
    return StepVerdict(
        is_best=any(opinions) if opinions else True,
        stop=bool(stop),
        reason="; ".join(v.reason for v in stop if v.reason),
    )
