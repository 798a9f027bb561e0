"""Validators on the teacher's batch: taxonomy and length, duplicates, held-out copies."""

from __future__ import annotations

from collections.abc import Sequence

from pgkd.guard import normalize
from pgkd.hookspecs import hookimpl
from pgkd.types import Candidate, Rejection, StepContext

#: The least ``[kd] max_chars = "auto"`` allows, whatever the training data.
AUTO_MAX_CHARS_FLOOR = 2000


def _kd(context: StepContext, name: str, default: float) -> float:
    return float(getattr(getattr(context.settings, "kd", None), name, default))


def max_chars(context: StepContext) -> int:
    """``[kd] max_chars``, with ``"auto"`` resolved from the seed (user) samples of the
    history: teacher samples never raise the cap."""
    setting = getattr(getattr(context.settings, "kd", None), "max_chars", "auto")
    if setting != "auto":
        return int(setting)
    cached = context.state.get("auto_max_chars")
    if cached is None:
        seed = (len(s.text.strip()) for s in context.history if s.origin != "teacher")
        cached = max(AUTO_MAX_CHARS_FLOOR, max(seed, default=0))
        context.state["auto_max_chars"] = cached
    return int(cached)


class SampleChecks:
    """Label inside the taxonomy, text neither empty nor too short nor too long."""

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        low, high = _kd(context, "min_chars", 3), max_chars(context)
        out: list[Rejection] = []
        for i, cand in enumerate(candidates):
            if cand.sample is None:
                continue
            problem = context.task.label_errors(cand.sample, context.labels)
            length = len(cand.sample.text.strip())
            if problem:
                out.append(Rejection(i, "label_outside_taxonomy", problem))
            elif length < low:
                out.append(Rejection(i, "too_short", f"{length} chars < {low:g}"))
            elif length > high:
                out.append(Rejection(i, "too_long", f"{length} chars > {high}"))
        return out


class DuplicateFilter:
    """Texts already in the training history, or repeated within the batch (after
    normalising case, punctuation and spacing)."""

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        seen = context.state.get("history_norms")
        if seen is None or len(seen) != len(context.history):
            seen = {normalize(s.text) for s in context.history}
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
        if guard is None:
            return []
        out: list[Rejection] = []
        for i, cand in enumerate(candidates):
            if cand.sample is None:
                continue
            kind = guard.copy_kind(cand.sample.text)
            if kind:
                out.append(Rejection(i, f"{kind}_copy_of_heldout"))
        return out
