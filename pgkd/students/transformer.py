"""The paper's student: a transformer encoder fine-tuned end to end as a sequence classifier.

The loop is :mod:`pgkd.students.training`'s: AdamW with linear warmup and decay, dynamic
padding, length-bucketed batches, early stopping on validation loss with the best epoch's
weights kept in memory, on the ``[student] device`` in its ``precision``
(:mod:`pgkd.students.device`; on the CPU fp32, or bf16 with ``[student.options] bf16 = true``);
the loss is cross-entropy over the classes. Saved with ``save_pretrained``, so
``transformers.pipeline("text-classification", model=DIR)`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from pgkd.errors import RunDirError
from pgkd.students.backbone import (
    label_indices,
    length_sorted_batches,
    load_sequence_classifier,
    load_tokenizer,
    pad_batch,
    portable_settings,
    quiet_transformers,
    tokenize,
)
from pgkd.students.base import ClassifierStudent, StudentSettings
from pgkd.students.fine_tuned import FineTunedStudent
from pgkd.students.loading import MARKER, read_marker, settings_from_dict, write_marker
from pgkd.students.training import ModelBatch
from pgkd.types import Sample

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

KIND = "transformer"

TokenIds = list[list[int]]


@dataclass
class Encoded:
    """Tokenized texts with their class indices."""

    ids: TokenIds
    targets: list[int]

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


def saved_labels(model: PreTrainedModel) -> list[str]:
    """The label names in the model config's column order."""
    id2label = {int(i): str(name) for i, name in (model.config.id2label or {}).items()}
    return [id2label[i] for i in sorted(id2label)]


class TransformerStudent(FineTunedStudent[Encoded], ClassifierStudent):
    kind = KIND

    def __init__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> None:
        super().__init__(settings, labels, seed)
        self._init_backbone(settings)

    def _load_backbone(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        tokenizer = load_tokenizer(self.backbone_path)
        return tokenizer, load_sequence_classifier(self.backbone_path, self.labels)

    def _training_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, targets)

    def _batch(self, data: Encoded, batch: list[int]) -> ModelBatch:
        tokenizer = self._require()[1]
        inputs = pad_batch([data.ids[i] for i in batch], int(tokenizer.pad_token_id or 0))
        return inputs, torch.tensor([data.targets[i] for i in batch], dtype=torch.long)

    def _encode_samples(self, samples: Sequence[Sample]) -> Encoded:
        tokenizer = self._require()[1]
        ids = tokenize(tokenizer, [s.text for s in samples], self.max_length)
        return Encoded(ids, label_indices(samples, self.labels))

    def _logits(self, ids: TokenIds) -> torch.Tensor:
        """Logits in the order of ``ids``, batched by length with dynamic padding."""
        model, tokenizer = self._placed()
        placement = self.placement
        model.train(False)
        out = torch.empty((len(ids), len(self.labels)), dtype=torch.float32)
        pad_id = int(tokenizer.pad_token_id or 0)
        batches = length_sorted_batches([len(row) for row in ids], self.settings.batch_size)
        with torch.inference_mode(), placement.autocast():
            for batch in batches:
                inputs = placement.move(pad_batch([ids[i] for i in batch], pad_id))
                out[batch] = model(**inputs).logits.float().cpu()
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
