"""Noise-robust acceptance: reject teacher samples a probe of the history confidently labels
otherwise.

A teacher mislabels some of what it writes, most often toward a class the text could belong
to; a student trained on those labels learns the confusion. Before a step's samples are
accepted, this check fits a logistic-regression probe on the frozen encoder's embeddings of
the training history (the student's own backbone, so the check costs no teacher call and the
embeddings of a ``frozen`` student run are already cached) and rejects a candidate
(``confident_disagreement``) when the probe gives another label at least ``confidence`` and the
candidate's own label less than ``max_own``. Its price is the clean samples it turns away: those
the student would have had most to learn from look like mislabelled ones to it.

How sure is sure enough depends on the data: a probe that is right 90% of the time on 4 news
topics is right 40% of the time on 41. So by default (``confidence = "auto"``) the threshold is
calibrated every step: the probe is cross-validated on the history (3 folds, each text scored
by a probe that did not see it), and the threshold is the lowest probability at which the
out-of-fold predictions at least that sure are right at least ``precision`` of the time, over at
least ``min_support`` texts. When no threshold reaches that, the check stands down for the step
and rejects nothing: a disagreement then says more about the probe than about the label.

``[plugins.options.confident_disagreement]``: ``enabled`` (default false), ``confidence``
(``"auto"``, or a fixed probability), ``precision`` (0.9) and ``min_support`` (20) for the
calibration, ``max_own`` (0.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgkd.builtin.plugin_options import plugin_table, read_bool, read_int, read_number
from pgkd.errors import ConfigError
from pgkd.hookspecs import hookimpl
from pgkd.types import Candidate, Rejection, Sample, StepContext

__all__ = [
    "NAME",
    "ConfidentDisagreement",
    "DisagreementOptions",
    "calibrated_threshold",
    "disagreements",
]

NAME = "confident_disagreement"
#: The probe's inverse regularisation: on unit-length sentence embeddings the default (1)
#: leaves every probability near the class prior, so no disagreement is ever confident.
PROBE_C = 10.0


#: The thresholds the calibration tries, lowest first.
THRESHOLDS = tuple(round(0.5 + 0.025 * i, 3) for i in range(20))
CALIBRATION_FOLDS = 3


@dataclass(frozen=True, slots=True)
class DisagreementOptions:
    enabled: bool = False
    #: A fixed threshold, or ``None``: calibrated each step (``confidence = "auto"``).
    confidence: float | None = None
    precision: float = 0.9
    min_support: int = 20
    max_own: float = 0.1

    @classmethod
    def from_settings(cls, settings: object) -> DisagreementOptions:
        keys = ("enabled", "confidence", "precision", "min_support", "max_own")
        table = plugin_table(settings, NAME, keys)
        confidence = None
        if isinstance(table.get("confidence"), str) and table["confidence"] != "auto":
            raise ConfigError(
                f"[plugins.options.{NAME}] confidence = {table['confidence']!r} must be"
                ' "auto" or a number from 0 to 1'
            )
        if table.get("confidence", "auto") != "auto":
            confidence = read_number(table, NAME, "confidence", None, high=1.0)
        return cls(
            enabled=read_bool(table, NAME, "enabled", False),
            confidence=confidence,
            precision=float(read_number(table, NAME, "precision", 0.9, high=1.0) or 0.0),
            min_support=read_int(table, NAME, "min_support", 20, low=1),
            max_own=float(read_number(table, NAME, "max_own", 0.1, high=1.0) or 0.0),
        )


def calibrated_threshold(
    vectors: np.ndarray, labels: Sequence[str], options: DisagreementOptions, seed: int = 0
) -> float | None:
    """The lowest probability at which the probe's out-of-fold predictions on the history are
    right at least ``options.precision`` of the time over ``options.min_support`` texts, or
    ``None`` when none is."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    gold = np.asarray(labels)
    top = np.zeros(len(gold))
    right = np.zeros(len(gold), dtype=bool)
    folds = KFold(CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    for fit_rows, score_rows in folds.split(vectors):
        if len(set(gold[fit_rows])) < 2:
            continue
        probe = LogisticRegression(C=PROBE_C, max_iter=1000, random_state=seed)
        probe.fit(vectors[fit_rows], gold[fit_rows])
        proba = probe.predict_proba(vectors[score_rows])
        top[score_rows] = proba.max(axis=1)
        right[score_rows] = probe.classes_[proba.argmax(axis=1)] == gold[score_rows]
    for threshold in THRESHOLDS:
        sure = top >= threshold
        if sure.sum() >= options.min_support and right[sure].mean() >= options.precision:
            return threshold
    return None


def disagreements(
    history_vectors: np.ndarray,
    history_labels: Sequence[str],
    candidate_vectors: np.ndarray,
    candidate_labels: Sequence[str],
    options: DisagreementOptions,
    seed: int = 0,
) -> list[tuple[int, str, float]]:
    """(index, the probe's label, its probability) for each candidate the probe disputes."""
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(history_labels))
    if len(classes) < 2 or len(candidate_labels) == 0:
        return []
    confidence = options.confidence
    if confidence is None:
        confidence = calibrated_threshold(history_vectors, history_labels, options, seed)
        if confidence is None:
            return []
    probe = LogisticRegression(C=PROBE_C, max_iter=1000, random_state=seed)
    probe.fit(history_vectors, list(history_labels))
    proba = probe.predict_proba(candidate_vectors)
    names = [str(c) for c in probe.classes_]
    column = {name: i for i, name in enumerate(names)}
    out: list[tuple[int, str, float]] = []
    for i, label in enumerate(candidate_labels):
        top = int(np.argmax(proba[i]))
        own = float(proba[i][column[label]]) if label in column else 0.0
        if names[top] != label and proba[i][top] >= confidence and own < options.max_own:
            out.append((i, names[top], float(proba[i][top])))
    return out


class ConfidentDisagreement:
    """The ``validate_samples`` check."""

    @staticmethod
    def _encoder(settings: Any) -> Any:
        """The process-wide embedding cache of the run's student backbone (the frozen student
        shares it, so its embeddings are reused, not computed twice)."""
        from pgkd.build import student_settings
        from pgkd.students.backbone import resolve_backbone
        from pgkd.students.device import student_placement
        from pgkd.students.frozen import DEFAULT_EMBED_MAX_LENGTH, shared_cache

        student = student_settings(settings)
        placement = student_placement(student)
        cap = int(student.options.get("embed_max_length", DEFAULT_EMBED_MAX_LENGTH))
        return shared_cache(
            resolve_backbone(student.backbone),
            min(student.max_length, cap),
            placement.embed_batch_size(student),
            placement,
        )

    @hookimpl(trylast=True)
    def validate_samples(
        self, context: StepContext, candidates: Sequence[Candidate]
    ) -> list[Rejection]:
        options = DisagreementOptions.from_settings(context.settings)
        if not options.enabled or getattr(context.task, "name", None) != "classification":
            return []
        parsed = [(i, c.sample) for i, c in enumerate(candidates) if c.sample is not None]
        known = set(context.labels)
        parsed = [(i, s) for i, s in parsed if str(s.target) in known]
        if not parsed or not context.history:
            return []
        encoder = self._encoder(context.settings)
        history: Sequence[Sample] = context.history
        found = disagreements(
            encoder.embed([s.text for s in history]),
            [str(s.target) for s in history],
            encoder.embed([s.text for _, s in parsed]),
            [str(s.target) for _, s in parsed],
            options,
            seed=context.seed,
        )
        return [
            Rejection(parsed[j][0], NAME, f"probe says {label} ({p:.2f})") for j, label, p in found
        ]
