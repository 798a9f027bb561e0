"""Fast inference for saved students and ONNX exports: what ``pgkd predict`` runs.

Every path tokenizes a chunk once, sorts it by length and pads each batch only to its longest
row (dynamic padding), then puts the rows back in input order. ``quantize="int8"`` applies
torch dynamic int8 quantization to the Linear layers of a torch model: several times faster
on CPU. A fine-tuned model's labels barely change; a frozen student with a weak head has many
near-tied classes, and int8 moved 19% of its labels on a 41-class run (accuracy 0.378 ->
0.366): check with ``benchmarks/inference_paths.py`` before relying on it. An ONNX export
(``pgkd export``) runs through onnxruntime.

A frozen student is not run through its own ``predict_proba``: that keeps every embedding in a
process-wide cache, which is right during training and wrong for millions of new texts.

A plugin's student (any task) is loaded through the student registry: a classifier runs through
its ``predict_proba``; a student of another task (NER, ...) is a :class:`RecordPredictor` and
writes its own output records.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pgkd.errors import ConfigError, RunDirError
from pgkd.students.base import ClassifierStudent, Student
from pgkd.students.loading import MARKER, load_saved_student, read_marker

if TYPE_CHECKING:
    import pyarrow as pa
    import torch

    from pgkd.students.device import Placement

Probabilities = npt.NDArray[np.float32]
QUANTIZE_CHOICES = ("int8",)
ONNX_MARKER = "pgkd_onnx.json"


class Predictor(Protocol):
    """Class probabilities for texts; columns follow ``labels``."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict_proba(self, texts: Sequence[str]) -> Probabilities: ...


@runtime_checkable
class RecordPredictor(Protocol):
    """What a student of a task other than classification gives ``pgkd predict``: one output
    record per text.

    ``prediction_records(texts)`` returns, in the order of ``texts``, one JSON-serialisable
    ``dict`` per text (for NER: ``{"entities": [...], "confidence": ...}``). ``pgkd predict``
    puts ``row``, the ``--keep`` fields and the text in front of each, so a record must not use
    those names. It is called once per chunk of ``--chunk-rows`` texts, so it may batch as it
    likes; ``--batch-size`` reaches it as the student's ``settings.batch_size``.

    Optionally, a ``prediction_schema()`` method returns a ``pyarrow.Schema`` of the record's
    fields: Parquet output then has the same column types in every chunk, even a chunk where a
    list is empty everywhere. Without it, types are taken from the first chunk.
    """

    def prediction_records(self, texts: Sequence[str]) -> list[dict[str, Any]]: ...


def prediction_schema(predictor: RecordPredictor) -> pa.Schema | None:
    """The predictor's ``prediction_schema()``, if it has one."""
    method = getattr(predictor, "prediction_schema", None)
    schema: pa.Schema | None = method() if callable(method) else None
    return schema


def resolve_model_dir(path: Path) -> Path:
    """A student or export folder; a run directory stands for its ``best/``."""
    path = Path(path)
    if (path / MARKER).is_file() or (path / ONNX_MARKER).is_file():
        return path
    if (path / "best" / MARKER).is_file():
        return path / "best"
    raise RunDirError(
        f"{path}: holds no saved student ({MARKER}) or ONNX export ({ONNX_MARKER}); "
        "point at a run directory, its best/ folder or a `pgkd export` folder"
    )


def read_export_marker(directory: Path) -> dict[str, Any]:
    path = Path(directory) / ONNX_MARKER
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: missing; run `pgkd export RUN_DIR --out {directory}`") from None
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); export again") from None
    if not isinstance(marker, dict) or not {"model", "labels", "max_length"} <= set(marker):
        raise RunDirError(f"{path}: lacks model, labels or max_length; export again")
    return marker


def load_predictor(
    model: Path, *, quantize: str | None = None, batch_size: int = 64, device: str = "auto"
) -> Predictor | RecordPredictor:
    """The fastest predictor for what ``model`` holds: class probabilities for a classifier,
    the student's own records for other tasks. ``device`` is where a torch student runs
    (``--device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
    from pgkd.students.device import check_device_name

    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ConfigError(f"--quantize {quantize}: use one of {', '.join(QUANTIZE_CHOICES)}")
    check_device_name(device, "--device")
    directory = resolve_model_dir(model)
    if (directory / ONNX_MARKER).is_file():
        if quantize:
            raise ConfigError(
                f"{directory}: an ONNX export is quantized when exported; drop --quantize or "
                "run `pgkd export ... --quantize int8`"
            )
        if device not in ("auto", "cpu"):
            raise ConfigError(
                f"{directory}: an ONNX export runs on onnxruntime's CPU provider; drop "
                f"--device {device} or predict from the run's best/ folder"
            )
        return OnnxPredictor.load(directory, batch_size)
    if quantize and resolve_placement(device).device.type != "cpu":
        raise ConfigError(
            f"--quantize int8 runs on the CPU only; add --device cpu or drop --quantize "
            f"(--device {device} is {resolve_placement(device).device})"
        )
    kind = read_marker(directory)["kind"]
    if kind == "frozen":
        return FrozenPredictor.load(directory, quantize, batch_size, device)
    if kind == "transformer":
        return TransformerPredictor.load(directory, quantize, batch_size, device)
    if quantize:
        raise ConfigError(
            f"{directory}: --quantize works for frozen and transformer students, not {kind!r}; "
            "drop --quantize"
        )
    student = load_saved_student(directory, registered_student_kinds(directory))
    return plugin_predictor(directory, student, batch_size, device)


def resolve_placement(device: str) -> Placement:
    """Where ``--device`` puts a predictor's torch model (precision chosen for the device)."""
    from pgkd.students.device import placement

    return placement(device, setting="--device")


def registered_student_kinds(directory: Path) -> dict[str, Any]:
    """Student kinds the installed plugins register (entry points, as ``PGKD_PLUGINS``
    allows), plus those of the plugins a run's ``[plugins] load`` names when ``directory`` is
    its ``best/``."""
    from pgkd.plugins import build_plugin_manager, build_registry

    return build_registry(build_plugin_manager(load=run_plugin_refs(directory))).students


def run_plugin_refs(directory: Path) -> list[str]:
    """``[plugins] load`` of the run whose ``best/`` is ``directory`` (none for other
    folders)."""
    import tomllib

    config = directory.parent / "config.toml"
    if directory.name != "best" or not config.is_file():
        return []
    try:
        load = tomllib.loads(config.read_text(encoding="utf-8")).get("plugins", {}).get("load")
    except (OSError, tomllib.TOMLDecodeError):
        return []
    return [str(ref) for ref in load] if isinstance(load, list) else []


def plugin_predictor(
    directory: Path, student: Student, batch_size: int, device: str = "auto"
) -> Predictor | RecordPredictor:
    """A plugin's student as a predictor: its own records, or a classifier's probabilities."""
    student.settings = replace(student.settings, batch_size=batch_size, device=device)
    if isinstance(student, RecordPredictor):
        return student
    if isinstance(student, ClassifierStudent):
        return student
    raise ConfigError(
        f"{directory}: a {student.kind!r} student gives `pgkd predict` nothing to write; its "
        "plugin must give the student a prediction_records(texts) method (docs/plugins.md)"
    )


def softmax(logits: npt.NDArray[Any]) -> Probabilities:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    exp = np.exp(z)
    out: Probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def sorted_batches(
    ids: Sequence[Sequence[int]], batch_size: int
) -> Iterator[tuple[list[int], list[Sequence[int]]]]:
    """(positions, rows) batches of similar length, longest first."""
    from pgkd.students.backbone import length_sorted_batches

    for batch in length_sorted_batches([len(row) for row in ids], batch_size):
        yield batch, [ids[i] for i in batch]


@contextmanager
def _quiet_quantization() -> Iterator[None]:
    """torch marks eager dynamic quantization deprecated (for torchao) but still ships it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def quantize_int8(model: torch.nn.Module) -> Any:
    """Torch dynamic int8 quantization of every Linear layer (weights int8, activations
    quantized on the fly)."""
    import torch

    with _quiet_quantization():
        try:
            from torch.ao.quantization import quantize_dynamic
        except ImportError:
            raise ConfigError(
                f"torch {torch.__version__} has no dynamic quantization; drop --quantize or "
                "use `pgkd export RUN_DIR --format onnx --quantize int8`"
            ) from None
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]


@dataclass
class TransformerPredictor:
    """A fine-tuned sequence classifier, run in torch."""

    labels: tuple[str, ...]
    student: Any

    @classmethod
    def load(
        cls, directory: Path, quantize: str | None, batch_size: int, device: str = "auto"
    ) -> TransformerPredictor:
        from pgkd.students.transformer import TransformerStudent

        resolve_placement(device)  # a missing GPU is refused as --device, before any work
        student = TransformerStudent.load(directory)
        options = dict(student.settings.options)
        if quantize and student.model is not None:
            options["bf16"] = False  # int8 kernels, not bf16 autocast
            student.model = quantize_int8(student.model)
        student.settings = replace(
            student.settings, batch_size=batch_size, options=options, device=device
        )
        return cls(student.labels, student)

    def predict_proba(self, texts: Sequence[str]) -> Probabilities:
        with _quiet_quantization():
            probs: Probabilities = self.student.predict_proba(texts)
        return probs


@dataclass
class FrozenPredictor:
    """A frozen encoder (mean pooling, L2-normalised) and the student's linear head."""

    labels: tuple[str, ...]
    encoder: Any
    tokenizer: Any
    head: Any
    max_length: int
    batch_size: int
    placement: Placement

    @classmethod
    def load(
        cls, directory: Path, quantize: str | None, batch_size: int, device: str = "auto"
    ) -> FrozenPredictor:
        from pgkd.students.backbone import effective_max_length, load_encoder, load_tokenizer
        from pgkd.students.frozen import FrozenEncoderStudent

        # The student's own placement and cache are for training; build only the head here.
        student = FrozenEncoderStudent.load(directory)
        where = resolve_placement(device)
        path = student.cache.path
        tokenizer, encoder = load_tokenizer(path), load_encoder(path)
        if quantize:
            encoder = quantize_int8(encoder)
        encoder = where.place(encoder)
        length = effective_max_length(student.cache.max_length, tokenizer, encoder.config)
        return cls(student.labels, encoder, tokenizer, student.head, length, batch_size, where)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import torch

        from pgkd.students.backbone import pad_batch, tokenize
        from pgkd.students.frozen import mean_pool

        ids = tokenize(self.tokenizer, texts, self.max_length)
        out = np.zeros((len(texts), int(self.encoder.config.hidden_size)), dtype=np.float32)
        pad_id = int(self.tokenizer.pad_token_id or 0)
        where = self.placement
        with torch.inference_mode(), _quiet_quantization(), where.autocast():
            for positions, rows in sorted_batches(ids, self.batch_size):
                inputs = where.move(pad_batch(rows, pad_id))
                hidden = self.encoder(**inputs).last_hidden_state
                out[positions] = mean_pool(hidden, inputs["attention_mask"]).cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> Probabilities:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        probs: Probabilities = self.head.proba(self.embed(texts))
        return probs


@dataclass
class OnnxPredictor:
    """A ``pgkd export`` folder run by onnxruntime."""

    labels: tuple[str, ...]
    session: Any
    tokenizer: Any
    max_length: int
    batch_size: int

    @classmethod
    def load(cls, directory: Path, batch_size: int) -> OnnxPredictor:
        import onnxruntime as ort

        from pgkd.students.backbone import load_tokenizer

        marker = read_export_marker(directory)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(directory / marker["model"]), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = load_tokenizer(directory)
        return cls(
            tuple(marker["labels"]), session, tokenizer, int(marker["max_length"]), batch_size
        )

    def predict_proba(self, texts: Sequence[str]) -> Probabilities:
        from pgkd.students.backbone import tokenize

        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        pad_id = int(self.tokenizer.pad_token_id or 0)
        ids = tokenize(self.tokenizer, texts, self.max_length)
        for positions, rows in sorted_batches(ids, self.batch_size):
            input_ids, mask = pad_numpy(rows, pad_id)
            (logits,) = self.session.run(
                ["logits"], {"input_ids": input_ids, "attention_mask": mask}
            )
            out[positions] = softmax(logits)
        return out


def pad_numpy(
    rows: Sequence[Sequence[int]], pad_id: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``input_ids`` and ``attention_mask`` as int64 arrays padded to the longest row."""
    width = max(len(row) for row in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return input_ids, mask
