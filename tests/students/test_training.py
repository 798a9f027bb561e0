"""The shared fine-tuning loop, on a toy model: no tokenizer, no transformer."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import torch

from pgkd.students.base import StudentSettings
from pgkd.students.training import FineTuning, ModelBatch, prepare_training

FEATURES = torch.eye(4)
TARGETS = torch.tensor([0, 1, 0, 1])


class Linear(torch.nn.Module):
    """Returns an object with ``.logits``, as a transformers model does."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def forward(self, features: torch.Tensor) -> Any:
        return SimpleNamespace(logits=self.layer(features))


def batch(indices: list[int]) -> ModelBatch:
    return {"features": FEATURES[indices]}, TARGETS[indices]


def test_stops_early_and_puts_the_best_epoch_back() -> None:
    settings = StudentSettings(kind="toy", batch_size=2, learning_rate=0.1, epochs=20, patience=2)
    model = Linear()
    losses = iter([3.0, 1.0, 2.0, 2.5, 0.1])
    seen: list[dict[str, torch.Tensor]] = []

    def validation_loss() -> float:
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(losses)

    calls: list[tuple[int, int, str]] = []
    tuning = FineTuning(model, settings, 0, batch, torch.nn.functional.cross_entropy)
    report = tuning.run(
        [1] * 4, validation_loss, lambda *call: calls.append(call), prepare_training(settings, 0)
    )
    assert (report.epochs_run, report.best_epoch, report.best_validation_loss) == (4, 2, 1.0)
    assert all(torch.equal(model.state_dict()[k], seen[1][k]) for k in seen[1])
    assert calls[0] == (1, 40, "epoch 1") and calls[-1] == (40, 40, "stopped early after epoch 4")


def test_without_validation_every_epoch_runs_and_the_last_is_kept() -> None:
    settings = StudentSettings(kind="toy", batch_size=3, learning_rate=0.1, epochs=3)
    tuning = FineTuning(Linear(), settings, 0, batch, torch.nn.functional.cross_entropy)
    report = tuning.run([1] * 4, None, None, prepare_training(settings, 0))
    assert (report.epochs_run, report.best_epoch) == (3, 3)
    assert math.isnan(report.best_validation_loss) and report.seconds >= 0


def test_same_seed_same_weights() -> None:
    def trained(seed: int) -> dict[str, torch.Tensor]:
        settings = StudentSettings(kind="toy", batch_size=2, learning_rate=0.1, epochs=2)
        prepare_training(settings, seed)
        model = Linear()
        FineTuning(model, settings, seed, batch, torch.nn.functional.cross_entropy).run(
            [1] * 4, None, None, 0.0
        )
        return model.state_dict()

    first, again, other = trained(1), trained(1), trained(2)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
