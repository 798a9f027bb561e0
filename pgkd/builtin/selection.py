"""Picks training examples for the prompt: few-shot, correct, misclassified, hard negatives.

Examples only ever come from the training history; any history text that contains held-out
text is skipped, so the prompt check never has to refuse a prompt built here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

from pgkd.hookspecs import hookimpl
from pgkd.types import Example, StepContext


def _rng(context: StepContext, salt: str) -> random.Random:
    return random.Random(f"{context.seed}:{context.step}:{salt}")


def _usable(context: StepContext, index: int) -> bool:
    return not context.guard.leaks(context.history[index].text)


class FewShotSelector:
    """Labelled examples spread over as many classes as possible (one per class in turn)."""

    @hookimpl(trylast=True)
    def select_examples(self, context: StepContext) -> Mapping[str, Sequence[Example]]:
        k = context.settings.kd.few_shot
        rng = _rng(context, "few_shot")
        by_class: dict[str, list[int]] = defaultdict(list)
        for i, sample in enumerate(context.history):
            if sample.origin == "seed":
                by_class[context.task.stratum(sample)].append(i)
        for indices in by_class.values():
            rng.shuffle(indices)
        classes = sorted(by_class)
        rng.shuffle(classes)
        chosen: list[int] = []
        while len(chosen) < k and any(by_class.values()):
            for label in classes:
                while by_class[label] and len(chosen) < k:
                    i = by_class[label].pop()
                    if _usable(context, i):
                        chosen.append(i)
                        break
        return {"few_shot": [Example(context.history[i]) for i in chosen]}


def _predicted(context: StepContext, correct: bool) -> list[int]:
    return [
        i
        for i, p in enumerate(context.train_predictions)
        if p.correct is correct and _usable(context, i)
    ]


class CorrectIncorrectSelector:
    """Random correctly classified and misclassified training examples with the student's
    prediction."""

    @hookimpl(trylast=True)
    def select_examples(self, context: StepContext) -> Mapping[str, Sequence[Example]]:
        kd = context.settings.kd
        out: dict[str, list[Example]] = {}
        for name, correct, k in (("correct", True, kd.correct), ("incorrect", False, kd.incorrect)):
            indices = _predicted(context, correct)
            rng = _rng(context, name)
            picked = rng.sample(indices, min(len(indices), k))
            out[name] = [Example(context.history[i], context.train_predictions[i]) for i in picked]
        return out


class HardNegativeMiner:
    """Misclassified training examples the student is most confident about."""

    @hookimpl(trylast=True)
    def select_examples(self, context: StepContext) -> Mapping[str, Sequence[Example]]:
        k = context.settings.kd.hard_negatives
        wrong = _predicted(context, False)
        wrong.sort(key=lambda i: -context.train_predictions[i].confidence)
        return {
            "hard_negatives": [
                Example(context.history[i], context.train_predictions[i]) for i in wrong[:k]
            ]
        }
