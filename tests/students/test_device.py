"""``[student] device`` and ``precision``: one module picks the device and the autocast, a missing
accelerator is a one-line error, and the CPU path trains exactly as before."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from pgkd.commands.cli import main
from pgkd.config import config_from_mapping
from pgkd.errors import ConfigError
from pgkd.students.base import StudentSettings
from pgkd.students.device import (
    Placement,
    Precision,
    check_device_name,
    choose_precision,
    placement,
    resolve_device,
)
from pgkd.students.frozen import FrozenEncoderStudent
from pgkd.students.training import FineTuning, prepare_training
from pgkd.types import Sample
from tests.students.test_training import Linear, batch

ROOT = Path(__file__).parents[2]
NO_CUDA = not torch.cuda.is_available()
NO_ACCELERATOR = NO_CUDA and not torch.backends.mps.is_available()


@pytest.mark.skipif(not NO_ACCELERATOR, reason="this machine has an accelerator")
def test_auto_is_the_cpu_on_a_machine_without_an_accelerator() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    where = placement("auto")
    assert (where.device.type, where.precision) == ("cpu", Precision())
    assert placement("auto", bf16_option=True).precision == Precision("bf16")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_asking_for_cuda_without_one_is_one_line_naming_the_setting(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_device(name)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f'[student] device = "{name}"') and "no CUDA device" in message
    assert 'set it to "auto" or "cpu"' in message
    # ... and a student asked to train there refuses when it is built, not mid-run.
    with pytest.raises(ConfigError, match=r"\[student\] device"):
        FrozenEncoderStudent(StudentSettings(kind="frozen", device=name), ("a", "b"), 0)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
def test_a_run_on_a_missing_gpu_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "train.jsonl").write_text(
        '{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n' * 4, encoding="utf-8"
    )
    config = tmp_path / "c.toml"
    config.write_text('[data]\ntrain = "train.jsonl"\n[student]\ndevice = "cuda:0"\n')
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '[student] device = "cuda:0"' in err
    assert not out.exists()


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
def test_predict_device_cuda_without_one_is_one_line(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = tmp_path / "in.jsonl"
    texts.write_text('{"text": "my card was charged twice"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = ["predict", str(students["frozen"]), str(texts), "--out", str(out)]
    code = main([*args, "--device", "cuda", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--device" in err
    assert "no CUDA device" in err and not out.exists()


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.predict.tiny_students import build_students

    return build_students(tmp_path_factory.getbasetemp() / "tiny-students")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "CUDA", "cuda:x", "tpu"])
def test_a_misspelt_device_is_refused_by_the_config_and_the_cli(name: str) -> None:
    with pytest.raises(ConfigError, match=r'use "auto", "cpu", "cuda", "cuda:N" or "mps"'):
        check_device_name(name)
    with pytest.raises(ConfigError, match=r"\[student\] device: .*not a device"):
        config_from_mapping({"data": {"train": "x.jsonl"}, "student": {"device": name}})


@pytest.mark.parametrize(
    ("device", "precision", "bf16_option", "bf16_supported", "expected"),
    [
        ("cpu", "auto", False, False, Precision()),
        ("cpu", "auto", True, False, Precision("bf16")),
        ("cpu", "bf16", False, False, Precision("bf16")),
        ("cpu", "fp32", True, False, Precision()),
        ("cuda", "auto", False, True, Precision("bf16")),
        ("cuda", "auto", False, False, Precision("fp16", scale_gradients=True)),
        ("cuda", "fp16", False, True, Precision("fp16", scale_gradients=True)),
        ("cuda", "fp32", True, True, Precision()),
        ("mps", "auto", False, False, Precision()),
        ("mps", "fp16", False, False, Precision("fp16")),
    ],
)
def test_precision_follows_the_device(
    device: str, precision: str, bf16_option: bool, bf16_supported: bool, expected: Precision
) -> None:
    chosen = choose_precision(
        device, precision, bf16_option=bf16_option, bf16_supported=bf16_supported
    )
    assert chosen == expected


def test_precisions_a_device_cannot_run_are_refused() -> None:
    with pytest.raises(ConfigError, match=r'precision = "fp16": fp16 autocast is for GPUs'):
        choose_precision("cpu", "fp16", bf16_option=False, bf16_supported=False)
    with pytest.raises(ConfigError, match=r'precision = "bf16": this GPU has no bf16'):
        choose_precision("cuda", "bf16", bf16_option=False, bf16_supported=False)


def test_embedding_batches_are_large_on_an_accelerator_only() -> None:
    settings = StudentSettings(kind="frozen", batch_size=64)
    assert Placement(torch.device("cpu")).embed_batch_size(settings) == 64
    assert Placement(torch.device("cuda")).embed_batch_size(settings) == 512
    tuned = StudentSettings(kind="frozen", options={"embed_batch_size": 2048})
    assert Placement(torch.device("cuda")).embed_batch_size(tuned) == 2048
    with pytest.raises(ConfigError, match=r"embed_batch_size = 0: must be an integer >= 1"):
        Placement(torch.device("cpu")).embed_batch_size(
            StudentSettings(kind="frozen", options={"embed_batch_size": 0})
        )


def train_toy(where: Placement | None, bf16: bool = False) -> dict[str, torch.Tensor]:
    settings = StudentSettings(kind="toy", batch_size=2, learning_rate=0.1, epochs=3)
    prepare_training(settings, 0)
    model = Linear()
    loss = torch.nn.functional.cross_entropy
    FineTuning(model, settings, 0, batch, loss, bf16=bf16, placement=where).run(
        [1] * 4, None, None, 0.0
    )
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_cpu_placement_trains_exactly_as_before() -> None:
    """``device = "cpu"`` (or ``auto`` here) changes nothing: same weights bit for bit as the
    loop without a placement, in fp32 and in bf16."""
    before = train_toy(None)
    assert all(torch.equal(before[k], v) for k, v in train_toy(placement("cpu")).items())
    bf16 = train_toy(None, bf16=True)
    cpu_bf16 = train_toy(placement("cpu", "bf16"))
    assert all(torch.equal(bf16[k], v) for k, v in cpu_bf16.items())


def test_the_gradient_scaler_path_trains_like_the_unscaled_one() -> None:
    """The fp16-on-CUDA path (scale the loss, unscale before clipping, step through the scaler)
    run here on the CPU in fp32: power-of-two scaling is exact, so the weights match."""
    scaled = train_toy(Placement(torch.device("cpu"), Precision(None, scale_gradients=True)))
    plain = train_toy(None)
    assert all(torch.allclose(plain[k], v, rtol=0, atol=1e-7) for k, v in scaled.items())


def test_the_frozen_student_embeds_with_its_placement(
    tiny_bert: Path, toy_samples: Callable[[int, int], list[Sample]]
) -> None:
    settings = StudentSettings(kind="frozen", backbone=str(tiny_bert), device="cpu")
    student = FrozenEncoderStudent(settings, ("sports", "finance", "weather"), 0)
    assert student.cache.placement.device == torch.device("cpu")
    samples = toy_samples(20, 0)
    student.fit(samples[:14], samples[14:])
    assert student.predict_proba(["goal for the team"]).shape == (1, 3)


def test_no_module_but_the_device_module_names_a_device() -> None:
    """One device-selection module: no ``.cuda()``, no ``torch.autocast("cpu", ...)`` and no
    ``"cuda"``/``"mps"`` literal anywhere else in pgkd."""
    offenders = []
    for path in sorted((ROOT / "pgkd").rglob("*.py")):
        if path.name == "device.py" and path.parent.name == "students":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                pass
            elif node.attr in {"cuda", "mps"} or (
                node.attr == "autocast" and ast.unparse(node.value) == "torch"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Constant) and node.value in {"cuda", "mps"}:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []
