"""Noise-robust acceptance: the neighbour vote and the probe's confident disagreement reject
mislabelled samples, keep correctly labelled ones, and are off unless enabled."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pgkd.builtin.disagreement import (
    ConfidentDisagreement,
    DisagreementOptions,
    calibrated_threshold,
    disagreements,
)
from pgkd.builtin.neighbour_vote import NeighbourVote, VoteOptions, disputed
from pgkd.config import PluginsConfig, StudentConfig
from pgkd.errors import ConfigError
from pgkd.tasks.classification import ClassificationTask
from pgkd.types import Candidate, Evaluation, Sample, StepContext

TOPICS = {
    "billing": ["invoice", "charge", "refund", "payment", "card", "billed"],
    "shipping": ["parcel", "courier", "delivery", "tracking", "shipped", "package"],
    "account": ["password", "login", "username", "email", "profile", "locked"],
}


def texts(label: str, n: int, offset: int = 0) -> list[str]:
    words = TOPICS[label]
    return [
        f"my {words[(i + offset) % 6]} and the {words[(i + offset + 2) % 6]} problem number {i}"
        for i in range(n)
    ]


def history() -> list[Sample]:
    return [Sample(t, label) for label in TOPICS for t in texts(label, 20)]


def context(options: dict[str, Any]) -> StepContext:
    return StepContext(
        step=1,
        task=ClassificationTask(),
        labels=tuple(TOPICS),
        history=history(),
        train_predictions=[],
        validation=Evaluation(loss=1.0, metrics={}, per_class={}),
        settings=SimpleNamespace(
            plugins=PluginsConfig(options=options), student=StudentConfig(max_length=32)
        ),
        seed=0,
    )


def batch() -> tuple[list[Candidate], list[int]]:
    """Six clean candidates and three whose label is another topic's; the wrong ones' indices."""
    out, wrong = [], []
    for label in TOPICS:
        for text in texts(label, 2, offset=3):
            out.append(Candidate({}, Sample(text + " again", label, "teacher", 1)))
        other = next(name for name in TOPICS if name != label)
        wrong.append(len(out))
        out.append(Candidate({}, Sample(texts(label, 1, offset=1)[0] + " too", other, "teacher")))
    return out, wrong


def test_the_neighbour_vote_rejects_the_mislabelled_and_keeps_the_rest() -> None:
    candidates, wrong = batch()
    found = disputed(history(), [c.sample for c in candidates if c.sample], VoteOptions(True))
    assert sorted(i for i, _, _ in found) == wrong
    ctx = context({"neighbour_vote": {"enabled": True}})
    rejections = NeighbourVote().validate_samples(ctx, candidates)
    assert sorted(r.index for r in rejections) == wrong
    assert {r.reason for r in rejections} == {"label_disputed"}


def test_the_probe_rejects_confident_disagreements_only() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 4
    labels = [name for name in TOPICS for _ in range(30)]
    known = np.vstack([centres[i] + rng.normal(0, 0.5, (30, 8)) for i in range(3)])
    asked = np.vstack([centres[0] + rng.normal(0, 0.5, 8), centres[1], centres[2]])
    # The first two keep their class's label; the third is a "shipping" text called "billing".
    found = disagreements(
        known, labels, asked, ["billing", "shipping", "billing"], DisagreementOptions(True)
    )
    assert [(i, label) for i, label, _ in found] == [(2, "account")]
    timid = DisagreementOptions(True, confidence=1.0)
    assert disagreements(known, labels, asked, ["billing", "shipping", "billing"], timid) == []


def test_the_probe_on_the_packaged_encoder_rejects_an_obvious_mislabel() -> None:
    candidates, wrong = batch()
    ctx = context({"confident_disagreement": {"enabled": True, "confidence": 0.5}})
    rejected = {r.index for r in ConfidentDisagreement().validate_samples(ctx, candidates)}
    assert rejected and rejected <= set(wrong)


def test_both_are_off_by_default_and_name_a_bad_option() -> None:
    candidates, _ = batch()
    assert NeighbourVote().validate_samples(context({}), candidates) == []
    assert ConfidentDisagreement().validate_samples(context({}), candidates) == []
    with pytest.raises(ConfigError, match=r"\[plugins.options.neighbour_vote\] k = 0"):
        NeighbourVote().validate_samples(context({"neighbour_vote": {"k": 0}}), candidates)
    bad = {"confident_disagreement": {"confidence": 2}}
    with pytest.raises(ConfigError, match="confidence = 2 must be a number from 0 to 1"):
        ConfidentDisagreement().validate_samples(context(bad), candidates)


def test_the_calibrated_probe_stands_down_where_it_cannot_be_trusted() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(3, 8) * 4
    labels = [name for name in TOPICS for _ in range(30)]
    separable = np.vstack([centres[i] + rng.normal(0, 0.5, (30, 8)) for i in range(3)])
    auto = DisagreementOptions(True)
    assert auto.confidence is None
    assert calibrated_threshold(separable, labels, auto) == 0.5
    asked = np.vstack([centres[1], centres[2]])
    assert [i for i, _, _ in disagreements(separable, labels, asked, ["billing"] * 2, auto)] == [
        0,
        1,
    ]
    # Labels that have nothing to do with the vectors: no threshold is right 90% of the time,
    # so the check rejects nothing, whatever the probe says.
    shuffled = list(rng.permutation(labels))
    assert calibrated_threshold(separable, shuffled, auto) is None
    assert disagreements(separable, shuffled, asked, ["billing"] * 2, auto) == []
    # Asking for more than the history supports also stands down.
    too_many = DisagreementOptions(True, min_support=91)
    assert calibrated_threshold(separable, labels, too_many) is None


def test_confidence_is_auto_or_a_probability() -> None:
    candidates, _ = batch()
    for value, message in (("often", 'must be "auto" or a number'), (2, "from 0 to 1")):
        bad = {"confident_disagreement": {"enabled": True, "confidence": value}}
        with pytest.raises(ConfigError, match=message):
            ConfidentDisagreement().validate_samples(context(bad), candidates)
    fixed = {"confident_disagreement": {"enabled": True, "confidence": 0.6, "min_support": 5}}
    options = DisagreementOptions.from_settings(context(fixed).settings)
    assert (options.confidence, options.min_support) == (0.6, 5)
