"""The ``ner-token`` student: a transformer encoder fine-tuned as a BIO token classifier.

pgkd's fine-tuning loop (:class:`pgkd.FineTunedStudent`: AdamW with linear warmup and decay,
length-bucketed batches with dynamic padding, early stopping on validation loss keeping the best
epoch's weights, optional bf16 autocast with ``[student.options] bf16 = true``), with
cross-entropy over per-token tags. Character spans are aligned to tokens through a fast
tokenizer's offsets; only a word's first sub-token is labelled. Saved with ``save_pretrained``,
so ``transformers.pipeline("token-classification", model=DIR)`` reads it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from pgkd import STUDENT_MARKER as MARKER
from pgkd import (
    ConfigError,
    DataError,
    FineTunedStudent,
    ModelBatch,
    RunDirError,
    Sample,
    StudentSettings,
    length_sorted_batches,
    load_tokenizer,
    pad_batch,
    portable_settings,
    quiet_transformers,
)
from pgkd import read_student_marker as read_marker
from pgkd import student_settings_from_dict as settings_from_dict
from pgkd import write_student_marker as write_marker

from pgkd_ner.spans import Span
from pgkd_ner.tagger import EntityTagger, Tagging
from pgkd_ner.tagging import Word, spans_from_tags, tag_names, tags_for, words_of

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

KIND = "ner-token"
#: Target of tokens the loss ignores: special tokens, later sub-tokens of a word, padding.
IGNORE = -100


@dataclass
class Encoded:
    """Tokenized texts, their words, and per-token tag targets (``IGNORE`` where untagged)."""

    ids: list[list[int]]
    words: list[list[Word]]
    targets: list[list[int]] | None

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


def load_token_classifier(path: Path, tags: Sequence[str] | None = None) -> PreTrainedModel:
    """A token-classification model: with ``tags`` a fresh head on a backbone, without them a
    saved tagger read back as it is."""
    from transformers import AutoModelForTokenClassification

    kwargs: dict[str, Any] = {}
    if tags is not None:
        kwargs = {
            "num_labels": len(tags),
            "id2label": dict(enumerate(tags)),
            "label2id": {tag: i for i, tag in enumerate(tags)},
        }
    with quiet_transformers():
        model = AutoModelForTokenClassification.from_pretrained(
            str(path), local_files_only=True, **kwargs
        )
    return cast("PreTrainedModel", model)


def pad_targets(rows: Sequence[Sequence[int]], width: int) -> torch.Tensor:
    out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def tagged_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the tagged tokens of a batch: logits (texts, tokens, tags),
    targets (texts, tokens) with ``IGNORE`` where untagged."""
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE
    )


def token_loss(log_probs: torch.Tensor, row: Sequence[int]) -> tuple[float, int]:
    """Summed cross-entropy and count of the tagged tokens of one text."""
    targets = torch.tensor(row, dtype=torch.long)
    mask = targets != IGNORE
    picked = log_probs[mask].gather(1, targets[mask].unsqueeze(1))
    return float(-picked.sum()), int(mask.sum())


class TokenClassifierStudent(FineTunedStudent[Encoded], EntityTagger):
    kind = KIND

    def __init__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> None:
        super().__init__(settings, labels, seed)
        self.tags = tag_names(self.labels)
        self._init_backbone(settings)

    def _load_backbone(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        tokenizer = checked_tokenizer(self.backbone_path)
        return tokenizer, load_token_classifier(self.backbone_path, self.tags)

    def _training_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return tagged_token_loss(logits, targets)

    def _batch(self, data: Encoded, batch: list[int]) -> ModelBatch:
        tokenizer = self._require()[1]
        assert data.targets is not None
        inputs = pad_batch([data.ids[i] for i in batch], int(tokenizer.pad_token_id or 0))
        width = inputs["input_ids"].shape[1]
        return inputs, pad_targets([data.targets[i] for i in batch], width)

    def _encode(
        self, texts: Sequence[str], gold: Sequence[Sequence[Span]] | None = None
    ) -> Encoded:
        """Token ids and words of ``texts``; with ``gold`` spans also the tag targets."""
        tokenizer = self._require()[1]
        if not texts:
            return Encoded([], [], None if gold is None else [])
        encoded = tokenizer(
            list(texts), truncation=True, max_length=self.max_length, return_offsets_mapping=True
        )
        ids = [list(row) for row in encoded["input_ids"]]
        words = [
            words_of([tuple(pair) for pair in encoded["offset_mapping"][i]], encoded.word_ids(i))
            for i in range(len(texts))
        ]
        targets = None
        if gold is not None:
            targets = [self._targets(len(ids[i]), words[i], gold[i]) for i in range(len(texts))]
        return Encoded(ids, words, targets)

    def _encode_samples(self, samples: Sequence[Sample]) -> Encoded:
        return self._encode([s.text for s in samples], [s.target for s in samples])

    def _targets(self, length: int, words: Sequence[Word], spans: Sequence[Span]) -> list[int]:
        index = {tag: i for i, tag in enumerate(self.tags)}
        row = [IGNORE] * length
        for word, tag in zip(words, tags_for(words, spans), strict=True):
            if tag not in index:
                raise DataError(
                    f"entity type {tag[2:]!r} is not one of the task's types {list(self.labels)}; "
                    "fix the data"
                )
            row[word.token] = index[tag]
        return row

    def _log_probs(self, ids: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """Per text, log-probabilities of every tag at every token, shape (tokens, tags)."""
        model, tokenizer = self._placed()
        placement = self.placement
        model.train(False)
        out: list[torch.Tensor] = [torch.empty(0)] * len(ids)
        pad_id = int(tokenizer.pad_token_id or 0)
        batches = length_sorted_batches([len(row) for row in ids], self.settings.batch_size)
        with torch.inference_mode(), placement.autocast():
            for batch in batches:
                inputs = placement.move(pad_batch([ids[i] for i in batch], pad_id))
                logits = model(**inputs).logits.float().cpu()
                log_probs = torch.log_softmax(logits, dim=-1)
                for row, i in enumerate(batch):
                    out[i] = log_probs[row, : len(ids[i])]
        return out

    def _loss(self, data: Encoded) -> float:
        """Mean cross-entropy over the tagged tokens of ``data``."""
        assert data.targets is not None
        total, count = 0.0, 0
        for log_probs, row in zip(self._log_probs(data.ids), data.targets, strict=True):
            loss_sum, tokens = token_loss(log_probs, row)
            total, count = total + loss_sum, count + tokens
        return total / count if count else 0.0

    def tag(
        self, texts: Sequence[str], gold: Sequence[Sequence[Span]] | None = None
    ) -> list[Tagging]:
        if gold is not None and len(gold) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(gold)} gold span lists")
        data = self._encode(texts, gold)
        out: list[Tagging] = []
        for i, log_probs in enumerate(self._log_probs(data.ids)):
            words = data.words[i]
            best = log_probs[[w.token for w in words]].max(dim=1) if words else None
            tags = [self.tags[int(k)] for k in best.indices] if best is not None else []
            sure = best.values.exp().tolist() if best is not None else []
            confidence = min(sure, default=1.0)
            loss_sum, tokens = 0.0, 0
            if data.targets is not None:
                loss_sum, tokens = token_loss(log_probs, data.targets[i])
            spans = spans_from_tags(words, tags)
            per_entity = tuple(
                min(p for w, p in zip(words, sure, strict=True) if s.start <= w.start < s.end)
                for s in spans
            )
            out.append(Tagging(spans, confidence, loss_sum, tokens, per_entity))
        return out

    def save(self, directory: Path) -> None:
        model, tokenizer = self._require()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tokenizer.model_max_length = self.max_length
        with quiet_transformers():
            model.save_pretrained(str(directory))
            tokenizer.save_pretrained(str(directory))
        write_marker(
            directory,
            self.kind,
            self.labels,
            portable_settings(self.settings, self.backbone_path),
            self.seed,
            max_length=self.max_length,
            tags=list(self.tags),
        )

    @classmethod
    def load(cls, directory: Path) -> TokenClassifierStudent:
        """Read a saved student; its backbone becomes ``directory``, which holds the whole
        model."""
        directory = Path(directory)
        record = read_marker(directory)
        if record["kind"] != KIND:
            raise RunDirError(f"{directory}: holds a {record['kind']!r} student, not {KIND!r}")
        settings = replace(settings_from_dict(record["settings"]), backbone=str(directory))
        student = cls(settings, record["labels"], record["seed"])
        student.tokenizer = checked_tokenizer(directory)
        student.model = load_token_classifier(directory)
        student.max_length = int(record.get("max_length", settings.max_length))
        id2label = {int(i): str(tag) for i, tag in (student.model.config.id2label or {}).items()}
        saved = [id2label[i] for i in sorted(id2label)]
        if saved != list(student.tags):
            raise RunDirError(f"{directory}: config.json tags {saved} differ from {MARKER}")
        return student


def checked_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """The backbone's tokenizer, which must be a fast one: only those give character offsets."""
    tokenizer = load_tokenizer(path)
    if not tokenizer.is_fast:
        raise ConfigError(
            f"[student] backbone = {str(path)!r}: its tokenizer is not a fast (Rust) tokenizer, "
            "which the ner-token student needs for character offsets; use a backbone folder "
            "with a tokenizer.json"
        )
    return tokenizer
