"""What every student that fine-tunes a transformer shares, whatever it predicts.

:class:`FineTunedStudent` is mixed in ahead of a student base class (``ClassifierStudent``,
or a plugin task's own) and implements ``fit``: load the backbone, encode the samples, run
:class:`~pgkd.students.training.FineTuning`. A subclass says only what differs: which model head
to load, how samples become model inputs and targets, and the loss.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import torch

from pgkd.errors import DataError
from pgkd.students.backbone import effective_max_length, resolve_backbone
from pgkd.students.base import FitReport, ProgressCallback, StudentSettings
from pgkd.students.device import Placement, student_placement
from pgkd.students.training import FineTuning, ModelBatch, prepare_training
from pgkd.types import Sample

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class Encoded(Protocol):
    """Encoded samples: the fine-tuning loop only needs their token counts."""

    @property
    def lengths(self) -> list[int]: ...


EncodedT = TypeVar("EncodedT", bound=Encoded)


class FineTunedStudent(abc.ABC, Generic[EncodedT]):
    kind: str
    settings: StudentSettings
    seed: int

    def _init_backbone(self, settings: StudentSettings) -> None:
        """Call from ``__init__``: the backbone folder, no model yet."""
        self.backbone_path: Path = resolve_backbone(settings.backbone)
        self.model: PreTrainedModel | None = None
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.max_length = settings.max_length
        self._placement: Placement | None = None

    @property
    def bf16(self) -> bool:
        return bool(self.settings.options.get("bf16", False))

    @property
    def placement(self) -> Placement:
        """Where the model trains and predicts (``[student] device`` and ``precision``),
        resolved once; an accelerator that is not there is a :class:`ConfigError`."""
        if self._placement is None:
            self._placement = student_placement(self.settings)
        return self._placement

    def _placed(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The model on :attr:`placement`'s device (moved on first use after a load), and
        the tokenizer."""
        model, tokenizer = self._require()
        self.model = model = self.placement.place(model)
        return model, tokenizer

    def fit(
        self,
        train: Sequence[Sample],
        validation: Sequence[Sample],
        progress: ProgressCallback | None = None,
    ) -> FitReport:
        if not train:
            raise DataError(f"the {self.kind} student got no training samples; check the seed data")
        started = prepare_training(self.settings, self.seed)
        placement = self.placement
        self.tokenizer, self.model = self._load_backbone()
        self.max_length = effective_max_length(
            self.settings.max_length, self.tokenizer, self.model.config
        )
        data = self._encode_samples(train)
        held_out = self._encode_samples(validation) if validation else None
        tuning = FineTuning(
            self.model,
            self.settings,
            self.seed,
            encode_batch=partial(self._batch, data),
            loss=self._training_loss,
            placement=placement,
        )
        validation_loss = partial(self._loss, held_out) if held_out is not None else None
        return tuning.run(data.lengths, validation_loss, progress, started)

    def _require(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        if self.model is None or self.tokenizer is None:
            raise RuntimeError(f"the {self.kind} student has no model: call fit() or load() first")
        return self.model, self.tokenizer

    @abc.abstractmethod
    def _load_backbone(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        """The tokenizer and the model with this student's head, from ``backbone_path``."""

    @abc.abstractmethod
    def _encode_samples(self, samples: Sequence[Sample]) -> EncodedT:
        """Token ids and training targets of ``samples`` (the tokenizer is loaded)."""

    @abc.abstractmethod
    def _batch(self, data: EncodedT, batch: list[int]) -> ModelBatch:
        """Padded model inputs and targets of the examples ``batch`` indexes in ``data``."""

    @abc.abstractmethod
    def _loss(self, data: EncodedT) -> float:
        """Mean validation loss over ``data``, the early-stopping signal."""

    @abc.abstractmethod
    def _training_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss of a training batch, from float32 logits."""
