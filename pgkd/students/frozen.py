"""The fast CPU student: a frozen sentence encoder and a logistic-regression head.

Texts are embedded once (mean pooling, L2-normalised) and kept in a cache shared by every frozen
student of the same encoder in the process, so a KD step, which builds a fresh student, only
embeds the texts it has not seen before.

The head is scikit-learn's multinomial LogisticRegression (lbfgs) rather than a torch linear
head: on a few thousand 384-d vectors it fits in well under a second, deterministically, and
minimising log loss gives calibrated probabilities. Early stopping becomes choosing the
regularisation: the head is fitted along a warm-started path of increasing ``C`` and the point
with the lowest validation loss is kept; ``patience`` points without improvement end the path.
:class:`FitReport` counts path points as epochs.

Out-of-fold predictions on the history (for mining mistakes the full head would not make) refit
only the head, once per fold, on the cached embeddings at the ``C`` the full fit chose: five
heads on a thousand 384-d vectors take a fraction of a second.

The encoder runs on the ``[student] device`` in its ``precision`` (:mod:`pgkd.students.device`):
on the CPU fp32, or bf16 autocast with ``[student.options] bf16 = true`` (2.5x faster on this
CPU), in batches of ``[student] batch_size``; on an accelerator in batches of 512 (or
``[student.options] embed_batch_size``). ``embed_max_length`` (default 256) caps the tokens
embedded per text; ``embedding_store`` (set
by the runner to a file in the run directory) persists embeddings so a resumed run reuses them.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

from pgkd.errors import DataError, RunDirError
from pgkd.students.backbone import (
    apply_threads,
    effective_max_length,
    label_indices,
    length_sorted_batches,
    load_encoder,
    load_tokenizer,
    pad_batch,
    portable_settings,
    resolve_backbone,
    tokenize,
)
from pgkd.students.base import ClassifierStudent, FitReport, ProgressCallback, StudentSettings
from pgkd.students.device import Placement, student_placement
from pgkd.students.folds import stratified_folds
from pgkd.students.loading import read_marker, settings_from_dict, write_marker
from pgkd.students.setfit_layout import has_body, write_setfit_layout
from pgkd.types import Sample

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

KIND = "frozen"
HEAD_FILE = "head.safetensors"
#: Frozen embeddings rarely gain from long inputs; ``[student.options] embed_max_length`` lifts it.
DEFAULT_EMBED_MAX_LENGTH = 256
#: Inverse regularisation strengths tried, weakest regularisation last.
C_PATH: tuple[float, ...] = tuple(float(c) for c in np.logspace(-2, 3, 11))
#: C when there is no validation set to choose it with.
DEFAULT_C = 1.0
MAX_ITER = 1000
#: How far below every seen class an unseen class's logit sits: its probability is < e**-20.
UNSEEN_MARGIN = 20.0

Vectors = npt.NDArray[np.float32]


class EmbeddingCache:
    """A frozen encoder and every embedding it computed, by text. ``encoded`` counts the texts
    that went through the encoder (cache misses). The encoder runs where ``placement`` says
    (the CPU in fp32 without one); ``bf16`` (no placement) runs it on the CPU under bf16
    autocast: 2.5x faster on a CPU with AVX512-BF16, cosine > 0.9999 to the fp32 vectors."""

    def __init__(
        self,
        path: Path,
        max_length: int,
        batch_size: int,
        bf16: bool = False,
        placement: Placement | None = None,
    ) -> None:
        self.path = path
        self.max_length = max_length
        self.batch_size = batch_size
        if placement is None:
            from pgkd.students.device import Precision

            placement = Placement(torch.device("cpu"), Precision("bf16" if bf16 else None))
        self.placement = placement
        self.bf16 = placement.precision.autocast == "bf16"
        #: What makes two caches' vectors interchangeable (:func:`cache_key`): the encoder's
        #: folder, the token cap, and where and in which precision it runs.
        self.key = cache_key(path, max_length, placement)
        where = placement.describe().replace(" ", "-").replace(":", "")
        digest = hashlib.sha256(repr(self.key).encode()).hexdigest()[:12]
        #: The key fit for a file name: readable parts, and a digest of the whole key (two
        #: encoders in folders of the same name must not share a file).
        self.signature = f"{path.name}-{max_length}-{where}-{digest}"
        self.vectors: dict[str, Vectors] = {}
        self.encoded = 0
        self.store: EmbeddingStore | None = None
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None

    def attach_store(self, path: Path) -> None:
        """Persist embeddings in ``path`` and reuse the ones already there, so a resumed run
        sees bit-identical vectors (re-encoding in other batches differs in the last bits)."""
        if self.store is not None and self.store.path == path:
            return
        if self.store is not None:
            self.store.close()
        self.store = EmbeddingStore(path)
        self.vectors.update(self.store.load())

    def read_from(self, path: Path) -> int:
        """Take every embedding stored in ``path`` (written by this encoder in these settings)
        that is not cached yet; returns how many. The store is only read."""
        store = EmbeddingStore(path)
        try:
            stored = store.load()
        finally:
            store.close()
        fresh = {text: vector for text, vector in stored.items() if text not in self.vectors}
        self.vectors.update(fresh)
        return len(fresh)

    def write_to(self, path: Path) -> None:
        """Store every cached embedding in ``path`` (kept where a text is already there)."""
        store = EmbeddingStore(path)
        try:
            store.add(list(self.vectors.items()))
        finally:
            store.close()

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> Vectors:
        """Embeddings of ``texts``, shape ``(len(texts), dim)``; only unseen texts are encoded."""
        missing = list(dict.fromkeys(text for text in texts if text not in self.vectors))
        if missing:
            self._encode(missing, progress)
        return np.stack([self.vectors[text] for text in texts])

    def _load(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        if self._model is None or self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.path)
            self._model = self.placement.place(load_encoder(self.path))
            self.max_length = effective_max_length(
                self.max_length, self._tokenizer, self._model.config
            )
        return self._model, self._tokenizer

    def _encode(self, texts: list[str], progress: ProgressCallback | None) -> None:
        model, tokenizer = self._load()
        ids = tokenize(tokenizer, texts, self.max_length)
        pad_id = int(tokenizer.pad_token_id or 0)
        done = 0
        with torch.inference_mode(), self.placement.autocast():
            for batch in length_sorted_batches([len(row) for row in ids], self.batch_size):
                inputs = self.placement.move(pad_batch([ids[i] for i in batch], pad_id))
                hidden = model(**inputs).last_hidden_state
                pooled = mean_pool(hidden, inputs["attention_mask"]).cpu().numpy()
                for row, i in enumerate(batch):
                    self.vectors[texts[i]] = pooled[row]
                if self.store is not None:
                    self.store.add([(texts[i], pooled[row]) for row, i in enumerate(batch)])
                done += len(batch)
                self.encoded += len(batch)
                if progress is not None:
                    progress(done, len(texts), "embedding texts")


class EmbeddingStore:
    """Embeddings on disk by text (SQLite): read once, appended per encoded batch."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embedding (text TEXT PRIMARY KEY, vector BLOB NOT NULL)"
        )

    def load(self) -> dict[str, Vectors]:
        rows = self._db.execute("SELECT text, vector FROM embedding").fetchall()
        return {text: np.frombuffer(blob, dtype=np.float32).copy() for text, blob in rows}

    def add(self, items: Sequence[tuple[str, Vectors]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO embedding VALUES (?, ?)",
                [(text, np.asarray(vec, dtype=np.float32).tobytes()) for text, vec in items],
            )

    def close(self) -> None:
        self._db.close()


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens, L2-normalised: how all-MiniLM-L6-v2 was trained to be used."""
    mask = attention_mask.unsqueeze(-1).float()
    summed = (hidden.float() * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)


_SHARED_CACHES: dict[tuple[str, int, str], EmbeddingCache] = {}


def cache_key(path: Path, max_length: int, placement: Placement) -> tuple[str, int, str]:
    """Which embeddings are interchangeable: one encoder (by its resolved folder), one token
    cap, one device and precision."""
    return (str(path.resolve()), max_length, placement.describe())


def shared_cache(
    path: Path, max_length: int, batch_size: int, placement: Placement
) -> EmbeddingCache:
    """The process-wide cache for one encoder on one device in one precision, so new
    students reuse old embeddings."""
    key = cache_key(path, max_length, placement)
    if key not in _SHARED_CACHES:
        _SHARED_CACHES[key] = EmbeddingCache(path, max_length, batch_size, placement=placement)
    return _SHARED_CACHES[key]


def embedding_cache(settings: StudentSettings) -> EmbeddingCache:
    """The process-wide cache a frozen student with ``settings`` embeds through."""
    cap = int(settings.options.get("embed_max_length", DEFAULT_EMBED_MAX_LENGTH))
    placement = student_placement(settings)
    return shared_cache(
        resolve_backbone(settings.backbone),
        min(settings.max_length, cap),
        placement.embed_batch_size(settings),
        placement,
    )


def shared_caches() -> list[EmbeddingCache]:
    """Every process-wide cache, oldest first."""
    return list(_SHARED_CACHES.values())


def clear_shared_caches() -> None:
    """Drop every cached encoder and embedding (tests, or to free memory)."""
    _SHARED_CACHES.clear()


@dataclass(frozen=True)
class LinearHead:
    """Softmax over ``x @ weight.T + bias``; one row per label, in the student's label order."""

    weight: Vectors
    bias: Vectors

    def proba(self, x: Vectors) -> Vectors:
        with single_threaded_blas():
            logits: npt.NDArray[np.float64] = x.astype(np.float64) @ self.weight.T.astype(
                np.float64
            )
        logits += self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        proba: Vectors = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        return proba

    def loss(self, x: Vectors, y: Sequence[int]) -> float:
        """Mean cross-entropy."""
        picked = self.proba(x)[np.arange(len(y)), np.asarray(y)].astype(np.float64)
        return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def single_threaded_blas() -> Any:
    """Small BLAS calls (a head on a few thousand 384-d rows) run ~100x slower multithreaded on
    a busy 2-core machine than on one thread: measured 1.4 s against 0.01 s per fit."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def head_from_logistic(model: Any, n_labels: int, dim: int) -> LinearHead:
    """Lift a fitted LogisticRegression to all ``n_labels`` columns. A binary model's single
    row becomes the second class's row against a zero first row (same probabilities); labels
    without training samples get a zero row and a bias far below every seen class."""
    classes = np.asarray(model.classes_, dtype=np.int64)
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return place_rows(classes, coef, intercept, n_labels, dim)


def place_rows(
    classes: npt.NDArray[np.int64],
    coef: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    n_labels: int,
    dim: int,
) -> LinearHead:
    # Inputs are unit vectors, so a seen class's logit is at least -(|w| + |b|).
    floor = -float(np.max(np.linalg.norm(coef, axis=1) + np.abs(intercept))) - UNSEEN_MARGIN
    weight = np.zeros((n_labels, dim), dtype=np.float32)
    bias = np.full(n_labels, floor, dtype=np.float32)
    weight[classes] = coef
    bias[classes] = intercept
    return LinearHead(weight, bias)


@dataclass(frozen=True)
class HeadFit:
    head: LinearHead
    points_run: int
    best_point: int
    validation_loss: float
    #: The inverse regularisation strength of the kept point.
    c: float = DEFAULT_C


def fit_head(
    x: Vectors,
    y: Sequence[int],
    validation: tuple[Vectors, Sequence[int]] | None,
    n_labels: int,
    patience: int,
    seed: int,
    path: Sequence[float] | None = None,
) -> HeadFit:
    """Fit along ``path`` and keep the point with the lowest validation loss. ``path``
    defaults to :data:`C_PATH`, or to :data:`DEFAULT_C` alone without a validation set."""
    seen = np.unique(np.asarray(y))
    if len(seen) == 1:
        head = place_rows(seen, np.zeros((1, x.shape[1])), np.zeros(1), n_labels, x.shape[1])
        return HeadFit(head, 1, 1, validation_loss(head, validation))
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=MAX_ITER, warm_start=True, random_state=seed)
    if path is None:
        path = C_PATH if validation is not None else (DEFAULT_C,)
    best: HeadFit | None = None
    for point, c in enumerate(path, start=1):
        model.set_params(C=c)
        with warnings.catch_warnings(), single_threaded_blas():
            # A point that stops short of convergence is still scored on validation.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, np.asarray(y))
        head = head_from_logistic(model, n_labels, x.shape[1])
        loss = validation_loss(head, validation)
        if best is None or loss < best.validation_loss:
            best = HeadFit(head, point, point, loss, c)
        elif point - best.best_point >= patience:
            return replace(best, points_run=point)
    assert best is not None
    return replace(best, points_run=len(path))


def validation_loss(head: LinearHead, validation: tuple[Vectors, Sequence[int]] | None) -> float:
    if validation is None:
        return math.nan
    return head.loss(*validation)


class FrozenEncoderStudent(ClassifierStudent):
    kind = KIND
    predicts_out_of_fold = True

    def __init__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> None:
        super().__init__(settings, labels, seed)
        self.backbone_path = resolve_backbone(settings.backbone)
        self.cache = embedding_cache(settings)
        store = settings.options.get("embedding_store")
        if store:
            self.cache.attach_store(Path(str(store)))
        self.head: LinearHead | None = None
        #: The regularisation :meth:`fit` chose; out-of-fold heads reuse it.
        self.c: float | None = None

    def fit(
        self,
        train: Sequence[Sample],
        validation: Sequence[Sample],
        progress: ProgressCallback | None = None,
    ) -> FitReport:
        start = time.perf_counter()
        if not train:
            raise DataError("the frozen student got no training samples; check the seed data")
        apply_threads(self.settings)
        vectors = self.cache.embed([s.text for s in [*train, *validation]], progress)
        x_train, x_val = vectors[: len(train)], vectors[len(train) :]
        y_train = label_indices(train, self.labels)
        held_out = (x_val, label_indices(validation, self.labels)) if validation else None
        result = fit_head(
            x_train, y_train, held_out, len(self.labels), self.settings.patience, self.seed
        )
        self.head, self.c = result.head, result.c
        return FitReport(
            epochs_run=result.points_run,
            best_epoch=result.best_point,
            best_validation_loss=result.validation_loss,
            seconds=time.perf_counter() - start,
        )

    def predict_proba(self, texts: Sequence[str]) -> Vectors:
        head = self._require_head()
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return head.proba(self.cache.embed(texts))

    def out_of_fold_proba(self, train: Sequence[Sample], folds: int, seed: int) -> Vectors | None:
        """Each history row scored by a head fitted on the other folds, at the ``C`` of the
        last :meth:`fit`; the embeddings come from the cache that fit filled."""
        if self.c is None:
            raise RuntimeError("the frozen student has no fitted C: call fit() first")
        folds = min(folds, len(train))
        if folds < 2:
            return None
        x = self.cache.embed([s.text for s in train])
        classes = label_indices(train, self.labels)
        y = np.asarray(classes)
        assignment = stratified_folds(classes, folds, seed)
        proba = np.zeros((len(train), len(self.labels)), dtype=np.float32)
        for fold in range(folds):
            held_out = assignment == fold
            fitted = fit_head(
                x[~held_out],
                list(y[~held_out]),
                None,
                len(self.labels),
                self.settings.patience,
                seed,
                path=(self.c,),
            )
            proba[held_out] = fitted.head.proba(x[held_out])
        return proba

    def save(self, directory: Path) -> None:
        """``head.safetensors`` and the marker for pgkd, plus a copy of the encoder and the
        SetFit files (see :mod:`pgkd.students.setfit_layout`), so the folder loads on its own."""
        from safetensors.numpy import save_file

        head = self._require_head()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"weight": head.weight, "bias": head.bias}, str(directory / HEAD_FILE))
        write_setfit_layout(
            directory,
            self.backbone_path,
            self.labels,
            head.weight,
            head.bias,
            self._embedding_length(),
        )
        write_marker(
            directory,
            self.kind,
            self.labels,
            portable_settings(self.settings, self.backbone_path),
            self.seed,
            head=HEAD_FILE,
            backbone_path=str(self.backbone_path),
        )

    @classmethod
    def load(cls, directory: Path) -> FrozenEncoderStudent:
        from safetensors.numpy import load_file

        directory = Path(directory)
        record = read_marker(directory)
        if record["kind"] != KIND:
            raise RunDirError(f"{directory}: holds a {record['kind']!r} student, not {KIND!r}")
        settings = settings_from_dict(record["settings"])
        if has_body(directory):
            # The folder's own copy of the encoder: it loads wherever the folder is moved.
            settings = replace(settings, backbone=str(directory))
        student = cls(settings, record["labels"], record["seed"])
        tensors = load_file(str(directory / HEAD_FILE))
        weight, bias = tensors["weight"], tensors["bias"]
        if weight.shape[0] != len(student.labels) or bias.shape != (len(student.labels),):
            raise RunDirError(f"{directory / HEAD_FILE}: shape does not match the labels")
        student.head = LinearHead(weight.astype(np.float32), bias.astype(np.float32))
        return student

    def _embedding_length(self) -> int:
        """The token limit texts are embedded with: the configured one, capped by the model."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(self.backbone_path), local_files_only=True)
        tokenizer = load_tokenizer(self.backbone_path)
        return effective_max_length(self.cache.max_length, tokenizer, config)

    def _require_head(self) -> LinearHead:
        if self.head is None:
            raise RuntimeError("the frozen student has no head yet: call fit() or load() first")
        return self.head
