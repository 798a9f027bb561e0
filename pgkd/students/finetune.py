"""The paper's student: a transformer encoder fine-tuned end to end as a sequence classifier.

A plain torch loop: AdamW with linear warmup and decay, dynamic padding, length-bucketed
batches, early stopping on validation loss with the best epoch's weights kept in memory, and
optional bf16 autocast on CPU (``[student.options] bf16 = true``). Saved with
``save_pretrained``, so ``transformers.pipeline("text-classification", model=DIR)`` reads it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from pgkd.errors import DataError, RunDirError
from pgkd.students.backbone import (
    apply_threads,
    effective_max_length,
    label_indices,
    length_sorted_batches,
    load_sequence_classifier,
    load_tokenizer,
    pad_batch,
    portable_settings,
    quiet_transformers,
    resolve_backbone,
    tokenize,
)
from pgkd.students.base import ClassifierStudent, FitReport, ProgressCallback, StudentSettings
from pgkd.students.loading import MARKER, read_marker, settings_from_dict, write_marker
from pgkd.types import Sample

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

KIND = "transformer"
WEIGHT_DECAY = 0.01
WARMUP_RATIO = 0.06
MAX_GRAD_NORM = 1.0
#: Batches per length-sorted bucket: more means less padding, fewer means more shuffling.
BUCKET_BATCHES = 16

TokenIds = list[list[int]]
StateDict = dict[str, torch.Tensor]


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator
) -> list[list[int]]:
    """One epoch's batches: shuffle, sort each bucket of ``BUCKET_BATCHES`` batches by length,
    cut it into batches, then shuffle the batch order. Similar lengths share a batch (little
    padding) while every epoch still sees different batches."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    bucket = batch_size * BUCKET_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start : start + bucket], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def linear_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def snapshot(model: torch.nn.Module) -> StateDict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@dataclass
class Encoded:
    """Tokenized texts with their class indices."""

    ids: TokenIds
    targets: list[int]

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


@dataclass
class EarlyStopping:
    patience: int
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: StateDict | None = None

    def update(self, epoch: int, loss: float, model: torch.nn.Module) -> bool:
        """Record an epoch; True when training should stop."""
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best_state = loss, epoch, snapshot(model)
            return False
        return epoch - self.best_epoch >= self.patience


def saved_labels(model: PreTrainedModel) -> list[str]:
    """The label names in the model config's column order."""
    id2label = {int(i): str(name) for i, name in (model.config.id2label or {}).items()}
    return [id2label[i] for i in sorted(id2label)]


class TransformerStudent(ClassifierStudent):
    kind = KIND

    def __init__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> None:
        super().__init__(settings, labels, seed)
        self.backbone_path = resolve_backbone(settings.backbone)
        self.model: PreTrainedModel | None = None
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.max_length = settings.max_length

    @property
    def bf16(self) -> bool:
        return bool(self.settings.options.get("bf16", False))

    def fit(
        self,
        train: Sequence[Sample],
        validation: Sequence[Sample],
        progress: ProgressCallback | None = None,
    ) -> FitReport:
        start = time.perf_counter()
        if not train:
            raise DataError("the transformer student got no training samples; check the seed data")
        apply_threads(self.settings)
        torch.manual_seed(self.seed)
        self.tokenizer = load_tokenizer(self.backbone_path)
        self.model = load_sequence_classifier(self.backbone_path, self.labels)
        self.max_length = effective_max_length(
            self.settings.max_length, self.tokenizer, self.model.config
        )
        stopping, epochs_run = self._train(
            self._encode(train), self._encode(validation) if validation else None, progress
        )
        if stopping.best_state is not None and stopping.best_epoch != epochs_run:
            self.model.load_state_dict(stopping.best_state)
        return FitReport(
            epochs_run=epochs_run,
            best_epoch=stopping.best_epoch or epochs_run,
            best_validation_loss=stopping.best_loss if validation else math.nan,
            seconds=time.perf_counter() - start,
        )

    def _train(
        self, train: Encoded, validation: Encoded | None, progress: ProgressCallback | None
    ) -> tuple[EarlyStopping, int]:
        model = self._require()[0]
        settings = self.settings
        generator = torch.Generator().manual_seed(self.seed)
        per_epoch = math.ceil(len(train.ids) / settings.batch_size)
        total = per_epoch * settings.epochs
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=settings.learning_rate, weight_decay=WEIGHT_DECAY
        )
        schedule = linear_schedule(total, max(1, math.ceil(WARMUP_RATIO * total)))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        stopping = EarlyStopping(settings.patience)
        for epoch in range(1, settings.epochs + 1):
            batches = bucketed_batches(train.lengths, settings.batch_size, generator)
            for step, batch in enumerate(batches, start=1):
                self._train_step(train, batch, optimizer)
                scheduler.step()
                if progress is not None:
                    progress((epoch - 1) * per_epoch + step, total, f"epoch {epoch}")
            if validation is not None and stopping.update(epoch, self._loss(validation), model):
                if progress is not None:
                    progress(total, total, f"stopped early after epoch {epoch}")
                return stopping, epoch
        return stopping, settings.epochs

    def _train_step(
        self, data: Encoded, batch: list[int], optimizer: torch.optim.Optimizer
    ) -> None:
        model, tokenizer = self._require()
        model.train()
        inputs = pad_batch([data.ids[i] for i in batch], int(tokenizer.pad_token_id or 0))
        targets = torch.tensor([data.targets[i] for i in batch], dtype=torch.long)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = model(**inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()

    def _encode(self, samples: Sequence[Sample]) -> Encoded:
        tokenizer = self._require()[1]
        ids = tokenize(tokenizer, [s.text for s in samples], self.max_length)
        return Encoded(ids, label_indices(samples, self.labels))

    def _logits(self, ids: TokenIds) -> torch.Tensor:
        """Logits in the order of ``ids``, batched by length with dynamic padding."""
        model, tokenizer = self._require()
        model.train(False)
        out = torch.empty((len(ids), len(self.labels)), dtype=torch.float32)
        pad_id = int(tokenizer.pad_token_id or 0)
        batches = length_sorted_batches([len(row) for row in ids], self.settings.batch_size)
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16),
        ):
            for batch in batches:
                out[batch] = model(**pad_batch([ids[i] for i in batch], pad_id)).logits.float()
        return out

    def _loss(self, data: Encoded) -> float:
        targets = torch.tensor(data.targets, dtype=torch.long)
        return float(torch.nn.functional.cross_entropy(self._logits(data.ids), targets))

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        tokenizer = self._require()[1]
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits = self._logits(tokenize(tokenizer, texts, self.max_length))
        return torch.softmax(logits, dim=1).numpy().astype(np.float32)

    def save(self, directory: Path) -> None:
        model, tokenizer = self._require()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # A pipeline called with truncation=True then cuts where training did.
        tokenizer.model_max_length = self.max_length
        with quiet_transformers():
            model.save_pretrained(str(directory))
            tokenizer.save_pretrained(str(directory))
        settings = portable_settings(self.settings, self.backbone_path)
        write_marker(
            directory, self.kind, self.labels, settings, self.seed, max_length=self.max_length
        )

    @classmethod
    def load(cls, directory: Path) -> TransformerStudent:
        """Read a saved student. Its backbone becomes ``directory`` itself, which holds the
        whole model, so loading works even where the original backbone is gone."""
        directory = Path(directory)
        record = read_marker(directory)
        if record["kind"] != KIND:
            raise RunDirError(f"{directory}: holds a {record['kind']!r} student, not {KIND!r}")
        settings = replace(settings_from_dict(record["settings"]), backbone=str(directory))
        student = cls(settings, record["labels"], record["seed"])
        student.tokenizer = load_tokenizer(directory)
        student.model = load_sequence_classifier(directory)
        student.max_length = int(record.get("max_length", settings.max_length))
        saved = saved_labels(student.model)
        if saved != list(student.labels):
            raise RunDirError(f"{directory}: config.json labels {saved} differ from {MARKER}")
        return student

    def _require(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        if self.model is None or self.tokenizer is None:
            raise RuntimeError("the transformer student has no model: call fit() or load() first")
        return self.model, self.tokenizer
