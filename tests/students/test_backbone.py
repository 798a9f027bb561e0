from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from transformers.utils import logging as hf_logging

from pgkd.errors import ConfigError, DataError
from pgkd.students.backbone import (
    apply_threads,
    label_indices,
    length_sorted_batches,
    packaged_minilm,
    pad_batch,
    quiet_transformers,
    resolve_backbone,
)
from pgkd.students.base import Student, StudentSettings
from pgkd.students.frozen import FrozenEncoderStudent
from pgkd.students.transformer import TransformerStudent
from pgkd.types import Sample


def test_default_and_minilm_resolve_to_the_packaged_folder() -> None:
    assert resolve_backbone(None) == resolve_backbone("minilm") == packaged_minilm()
    assert (packaged_minilm() / "config.json").is_file()


def test_local_folder_resolves(tiny_bert: Path) -> None:
    assert resolve_backbone(str(tiny_bert)) == tiny_bert


@pytest.mark.parametrize("student_class", [FrozenEncoderStudent, TransformerStudent])
@pytest.mark.parametrize("backbone", ["bert-base-uncased", "/no/such/folder", "."])
def test_bad_backbone_is_a_config_error(student_class: type[Student], backbone: str) -> None:
    settings = StudentSettings(kind=student_class.kind, backbone=backbone)
    with pytest.raises(ConfigError, match=r"\[student\] backbone") as info:
        student_class(settings, ["a", "b"], 0)
    assert "\n" not in str(info.value)


def test_quiet_transformers_restores_verbosity() -> None:
    before = hf_logging.get_verbosity()
    with quiet_transformers():
        assert hf_logging.get_verbosity() == logging.ERROR
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.get_verbosity() == before


def test_threads_setting_is_applied() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        apply_threads(StudentSettings(kind="frozen", threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_pad_batch_pads_to_the_longest_row() -> None:
    padded = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert padded["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_length_sorted_batches_cover_every_index_once() -> None:
    batches = length_sorted_batches([3, 9, 1, 7, 5], batch_size=2)
    assert batches == [[1, 3], [4, 0], [2]]


def test_unknown_label_is_a_data_error() -> None:
    with pytest.raises(DataError, match="'cooking'"):
        label_indices([Sample("x", "cooking")], ["sports"])


def test_registry_and_loading_do_not_import_torch() -> None:
    code = (
        "import sys, pgkd.students.registry, pgkd.students.loading, pgkd.students.backbone;"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tiny_bert_backbone_is_seeded_and_keeps_the_global_rng(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from pgkd.testing import tiny_bert_backbone

    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    first = tiny_bert_backbone(tmp_path / "a")
    assert torch.equal(torch.rand(3), expected_draw)
    second = tiny_bert_backbone(tmp_path / "b")
    assert resolve_backbone(str(first)) == first
    weights_a, weights_b = (load_file(str(d / "model.safetensors")) for d in (first, second))
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
