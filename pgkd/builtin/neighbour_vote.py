"""Noise-robust acceptance: reject teacher samples whose label the training history disputes.

A real teacher mislabels some of what it writes, most often toward a class the text could
belong to, and a student trained on those labels learns the confusion. This check asks the
training history (the user's samples plus those accepted so far) for a second opinion: the
``k`` history texts most similar to the candidate (TF-IDF over words and word pairs, cosine)
vote with their similarity; a candidate is rejected (``label_disputed``) when its own label
gets less than ``min_share`` of the vote while one other label gets at least ``majority``.
It costs no teacher call and works on any teacher's samples; its price is the clean samples it
turns away. TF-IDF rather than the student's own encoder, so it disagrees with the student in
different places than the student itself would.

``[plugins.options.neighbour_vote]``: ``enabled`` (default false), ``k`` (10), ``min_share``
(0.15), ``majority`` (0.5).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgkd.builtin.plugin_options import plugin_table, read_bool, read_int, read_number
from pgkd.hookspecs import hookimpl
from pgkd.types import Candidate, Rejection, Sample, StepContext

__all__ = ["NAME", "NeighbourVote", "VoteOptions", "disputed"]

NAME = "neighbour_vote"


@dataclass(frozen=True, slots=True)
class VoteOptions:
    enabled: bool = False
    k: int = 10
    min_share: float = 0.15
    majority: float = 0.5

    @classmethod
    def from_settings(cls, settings: object) -> VoteOptions:
        table = plugin_table(settings, NAME, ("enabled", "k", "min_share", "majority"))
        return cls(
            enabled=read_bool(table, NAME, "enabled", False),
            k=read_int(table, NAME, "k", 10, low=1),
            min_share=float(read_number(table, NAME, "min_share", 0.15, high=1.0) or 0.0),
            majority=float(read_number(table, NAME, "majority", 0.5, high=1.0) or 0.0),
        )


def disputed(
    history: Sequence[Sample], candidates: Sequence[Sample], options: VoteOptions
) -> list[tuple[int, str, float]]:
    """(index, the label the neighbours favour, its vote share) for each disputed candidate."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not history or not candidates:
        return []
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    known = vectorizer.fit_transform([s.text for s in history])
    asked = vectorizer.transform([s.text for s in candidates])
    similarity = (asked @ known.T).toarray()
    labels = [str(s.target) for s in history]
    k = min(options.k, len(history))
    out: list[tuple[int, str, float]] = []
    for i, row in enumerate(similarity):
        nearest = np.argpartition(-row, k - 1)[:k]
        votes: dict[str, float] = defaultdict(float)
        for j in nearest:
            votes[labels[j]] += max(0.0, float(row[j]))
        total = sum(votes.values())
        if total <= 0:
            continue
        own = votes.get(str(candidates[i].target), 0.0) / total
        top, weight = max(votes.items(), key=lambda item: (item[1], item[0]))
        outvoted = own < options.min_share and weight / total >= options.majority
        if top != str(candidates[i].target) and outvoted:
            out.append((i, top, weight / total))
    return out


class NeighbourVote:
    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        options = VoteOptions.from_settings(context.settings)
        if not options.enabled:
            return []
        parsed = [(i, c.sample) for i, c in enumerate(candidates) if c.sample is not None]
        found = disputed(context.history, [s for _, s in parsed], options)
        return [
            Rejection(parsed[j][0], "label_disputed", f"neighbours say {label} ({share:.2f})")
            for j, label, share in found
        ]
