"""Validators on the teacher's batch: taxonomy and length, duplicates, held-out copies."""

from __future__ import annotations

from collections.abc import Sequence

from pgkd.guard import normalize
from pgkd.hookspecs import hookimpl
from pgkd.types import Candidate, Rejection, Sample, StepContext

#: The least ``[kd] max_chars = "auto"`` allows, whatever the training data.
AUTO_MAX_CHARS_FLOOR = 2000


def max_chars(context: StepContext) -> int:
    """``[kd] max_chars``, with ``"auto"`` resolved from the seed (user) samples of the
    history: teacher samples never raise the cap."""
    setting = context.settings.kd.max_chars
    if setting != "auto":
        return setting
    seed = (len(s.text.strip()) for s in context.history if s.origin != "teacher")
    return max(AUTO_MAX_CHARS_FLOOR, max(seed, default=0))


class SampleChecks:
    """Label inside the taxonomy, text neither empty nor too short nor too long."""

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        low, high = context.settings.kd.min_chars, max_chars(context)
        out: list[Rejection] = []
        for i, cand in enumerate(candidates):
            if cand.sample is None:
                continue
            problem = context.task.label_errors(cand.sample, context.labels)
            length = len(cand.sample.text.strip())
            if problem:
                out.append(Rejection(i, "label_outside_taxonomy", problem))
            elif length < low:
                out.append(Rejection(i, "too_short", f"{length} chars < {low}"))
            elif length > high:
                out.append(Rejection(i, "too_long", f"{length} chars > {high}"))
        return out


class DuplicateFilter:
    """Texts already in the training history, or repeated within the batch (after
    normalising case, punctuation and spacing).

    The history only grows while a run lasts, so the filter keeps the normalised texts it has
    seen and adds only the samples appended since the last step. A different history (another
    run in the same process) starts the cache afresh.
    """

    def __init__(self) -> None:
        self._history: Sequence[Sample] | None = None
        self._counted = 0
        self._norms: set[str] = set()

    def history_norms(self, history: Sequence[Sample]) -> set[str]:
        """The normalised texts of ``history``, brought up to date."""
        if history is not self._history or len(history) < self._counted:
            self._history, self._counted, self._norms = history, 0, set()
        self._norms.update(normalize(s.text) for s in history[self._counted :])
        self._counted = len(history)
        return self._norms

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        seen = self.history_norms(context.history)
        batch: set[str] = set()
        out: list[Rejection] = []
        for i, cand in enumerate(candidates):
            if cand.sample is None:
                continue
            norm = normalize(cand.sample.text)
            if norm in seen:
                out.append(Rejection(i, "duplicate_of_history"))
            elif norm in batch:
                out.append(Rejection(i, "duplicate_in_batch"))
            batch.add(norm)
        return out


class LeakageFilter:
    """Exact or near copies of validation/test text: training on them would inflate scores."""

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        guard = context.guard
        out: list[Rejection] = []
        for i, cand in enumerate(candidates):
            if cand.sample is None:
                continue
            kind = guard.copy_kind(cand.sample.text)
            if kind:
                out.append(Rejection(i, f"{kind}_copy_of_heldout"))
        return out
