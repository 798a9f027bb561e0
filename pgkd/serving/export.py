"""``pgkd export``: a saved student as one ONNX graph plus its tokenizer, for onnxruntime.

Both built-in students become one graph with the same interface, so a consumer does not need to
know which kind it got:

- inputs ``input_ids`` and ``attention_mask`` (int64, shape ``[batch, sequence]``, any batch
  size and length up to ``max_length``);
- outputs ``logits`` and ``probabilities`` (float32, ``[batch, len(labels)]``).

A ``transformer`` student is its whole fine-tuned sequence classifier. A ``frozen`` student is
its encoder, the mean pooling with L2 normalisation it was trained on, and its linear head,
in one graph (not an encoder plus a separate head file): a consumer runs one model.

The folder holds ``model.onnx``, the tokenizer files (``tokenizer.json`` for any fast-tokenizer
runtime), the model's ``config.json`` with the labels (what Hugging Face Optimum's
``ORTModelForSequenceClassification.from_pretrained(folder)`` needs to run it) and
``pgkd_onnx.json``: labels in column order, ``max_length``, the student kind and
whether the weights are int8. ``--quantize int8`` applies onnxruntime dynamic quantization
(int8 weights of MatMul/Gemm; ~2x faster on CPU). ``pgkd predict EXPORT_DIR ...`` runs it.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from pgkd.errors import ConfigError, RunDirError
from pgkd.serving.inference import ONNX_MARKER, QUANTIZE_CHOICES, resolve_model_dir
from pgkd.students.loading import read_marker

MODEL_FILE = "model.onnx"
FORMATS = ("onnx",)
OPSET = 17
EXPORT_FORMAT_VERSION = 1
#: Texts the graph is traced with: two lengths, so padding is part of the trace.
TRACE_TEXTS = ("a short text", "a somewhat longer text that needs padding in its batch")


def export_model(model: Path, out: Path, *, fmt: str = "onnx", quantize: str | None = None) -> Path:
    """Export the student in ``model`` (a run directory, its ``best/`` or a student folder) to
    the folder ``out``; returns the model file's path."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ConfigError(f"--quantize {quantize}: use one of {', '.join(QUANTIZE_CHOICES)}")
    source = resolve_model_dir(model)
    if (source / ONNX_MARKER).is_file():
        raise RunDirError(f"{source}: is already an ONNX export; export the run directory")
    kind = read_marker(source)["kind"]
    if kind not in ("transformer", "frozen"):
        raise ConfigError(
            f"{source}: ONNX export supports the classifier students (frozen, transformer), "
            f"not {kind!r}; run it with `pgkd predict {source} INPUT --out OUT.jsonl`"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    module, tokenizer, labels, max_length, config = _graph(source, kind)
    target = out / MODEL_FILE
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp:
        fp32 = Path(tmp) / MODEL_FILE
        _trace(module, tokenizer, max_length, fp32)
        if quantize == "int8":
            _quantize_int8(fp32, target)
        else:
            shutil.move(str(fp32), target)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(str(out))
    _write_model_config(config, labels, out)
    marker = {
        "format": EXPORT_FORMAT_VERSION,
        "model": MODEL_FILE,
        "kind": kind,
        "labels": list(labels),
        "max_length": max_length,
        "quantize": quantize,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["logits", "probabilities"],
        "pooling": "mean, L2-normalised" if kind == "frozen" else "classifier head",
        "source": str(source.resolve()),
    }
    (out / ONNX_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return target


def _graph(source: Path, kind: str) -> tuple[torch.nn.Module, Any, tuple[str, ...], int, Any]:
    """The module to trace, with its tokenizer, labels, max length and model config."""
    if kind == "transformer":
        from pgkd.students.transformer import TransformerStudent

        student = TransformerStudent.load(source)
        assert student.model is not None and student.tokenizer is not None
        return (
            ClassifierGraph(student.model),
            student.tokenizer,
            student.labels,
            student.max_length,
            student.model.config,
        )
    from pgkd.serving.inference import FrozenPredictor

    frozen = FrozenPredictor.load(source, None, batch_size=len(TRACE_TEXTS))
    graph = FrozenGraph(frozen.encoder, frozen.head.weight, frozen.head.bias)
    return graph, frozen.tokenizer, frozen.labels, frozen.max_length, frozen.encoder.config


def _write_model_config(config: Any, labels: tuple[str, ...], out: Path) -> None:
    """``config.json`` with the labels, which Hugging Face Optimum's ONNX Runtime classes read:
    ``ORTModelForSequenceClassification.from_pretrained(out)`` runs the export and names its
    columns. The graph's ``logits`` output is what they read."""
    config = copy.deepcopy(config)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.save_pretrained(str(out))


class ClassifierGraph(torch.nn.Module):
    """A sequence classifier with plain tensor outputs (no ModelOutput object)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits, logits.softmax(dim=-1)


class FrozenGraph(torch.nn.Module):
    """Encoder, mean pooling with L2 normalisation, linear head: the frozen student in one."""

    def __init__(self, encoder: torch.nn.Module, weight: Any, bias: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.weight = torch.nn.Parameter(torch.as_tensor(weight, dtype=torch.float32), False)
        self.bias = torch.nn.Parameter(torch.as_tensor(bias, dtype=torch.float32), False)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from pgkd.students.frozen import mean_pool

        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = mean_pool(hidden, attention_mask) @ self.weight.T + self.bias
        return logits, logits.softmax(dim=-1)


@contextmanager
def _quiet_export() -> Iterator[None]:
    """The TorchScript exporter warns about its own deprecation and about Python branches in
    transformers' masking code that trace to constants (they do not depend on the input)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit._trace.TracerWarning)
        yield


def _trace(module: torch.nn.Module, tokenizer: Any, max_length: int, path: Path) -> None:
    encoded = tokenizer(
        list(TRACE_TEXTS), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    args = (encoded["input_ids"], encoded["attention_mask"])
    module.eval()
    with _quiet_export(), torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits", "probabilities"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
                "probabilities": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )


def _quantize_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice to the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
