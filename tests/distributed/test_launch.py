"""Runs launched as 2 CPU processes (gloo) under ``python -m torch.distributed.run``, against the
same work done in one process: the data-parallel fit, a whole run on the SIMULATION teacher,
and the ways a launched run ends early without leaving a rank waiting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgkd.students.transformer import TransformerStudent
from tests.conftest import ROOT
from tests.distributed.launch import single, torchrun

#: The run test launches three times; each launch has its own timeout (launch.TEST_TIMEOUT).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def params(folder: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    return dict(load_file(str(folder / "model.safetensors")))


def test_a_data_parallel_fit_is_the_single_process_fit(
    tiny_backbone_without_dropout: Path, tmp_path: Path
) -> None:
    """Each rank takes half of each batch of 16 and DDP averages the weighted gradients: the
    same step as one process on the whole batch, so the weights differ by float order only."""
    script = ("-m", "tests.distributed.fit_script", str(tiny_backbone_without_dropout))
    alone = single(*script, str(tmp_path / "alone"), cwd=ROOT)
    assert alone.returncode == 0, alone.stderr[-3000:]
    launched = torchrun(*script, str(tmp_path / "ddp"), cwd=ROOT)
    assert launched.returncode == 0, launched.stderr[-3000:]
    a, b = params(tmp_path / "alone"), params(tmp_path / "ddp")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)  # type: ignore[attr-defined]
    assert worst < 1e-4


def write_config(folder: Path, tickets: dict[str, Path], backbone: Path, kind: str) -> Path:
    path = folder / "run.toml"
    path.write_text(
        f"""
[data]
train = "{tickets["train"]}"
[teacher]
model = "pool:{tickets["pool"]}"
[student]
kind = "{kind}"
backbone = "{backbone}"
max_length = 64
batch_size = 16
epochs = 6
learning_rate = 3e-3
[kd]
steps = 1
batch_size = 16
"""
    )
    return path


def test_a_launched_run_writes_one_run_and_matches_a_single_process_run(
    tickets: dict[str, Path], tiny_backbone_without_dropout: Path, tmp_path: Path
) -> None:
    """The tolerance: validation loss within 10% relative and predictions agreeing on 90% of
    the test texts. Without dropout the students differ by float order only (the fit test
    above); with dropout the ranks draw other masks than one process would and the students
    are alike only in expectation, which a student as weak as the tiny BERT cannot show."""
    backbone = tiny_backbone_without_dropout
    config = write_config(tmp_path, tickets, backbone, "transformer")
    command = ("-m", "pgkd.commands.cli", "run", str(config), "--out")
    launched = torchrun(*command, "ddp", cwd=tmp_path)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("PGKD run finished") == 1  # rank 0 alone reports
    alone = single(*command, "alone", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr[-3000:]

    def files(run: str) -> set[str]:
        return {str(p.relative_to(tmp_path / run)) for p in (tmp_path / run).rglob("*")}

    assert files("ddp") == files("alone")  # nothing more, nothing less, from rank 1
    assert set(p.name for p in tmp_path.iterdir()) == {"run.toml", "ddp", "alone"}
    ddp, one = (json.loads((tmp_path / r / "summary.json").read_text()) for r in ("ddp", "alone"))
    assert ddp["steps_run"] == one["steps_run"] == 1
    journal = (tmp_path / "ddp" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == len((tmp_path / "alone" / "journal.jsonl").read_text().splitlines())
    for key in ("model_0", "best"):
        assert ddp[key]["val"]["loss"] == pytest.approx(one[key]["val"]["loss"], rel=0.10)
    assert one["model_0"]["val"]["loss"] < 1.7  # below chance (ln 6 = 1.79): it learned
    texts = [json.loads(line)["text"] for line in tickets["test"].read_text().splitlines()]
    a = TransformerStudent.load(tmp_path / "ddp" / "best").predict_proba(texts).argmax(1)
    b = TransformerStudent.load(tmp_path / "alone" / "best").predict_proba(texts).argmax(1)
    assert (a == b).mean() >= 0.9

    # `pgkd resume` under the launcher: the run, given one step more, continues where it ended.
    config_file = tmp_path / "ddp" / "config.toml"
    config_file.write_text(config_file.read_text().replace("steps = 1\n", "steps = 2\n", 1))
    (tmp_path / "ddp" / "summary.json").unlink()
    resumed = torchrun("-m", "pgkd.commands.cli", "resume", "ddp", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["steps_run"] == 2
    metrics = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [0, 1, 2]


def test_a_frozen_student_under_a_launcher_is_one_line_on_every_rank(
    tickets: dict[str, Path], tiny_backbone: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, tickets, tiny_backbone, "frozen")
    result = torchrun("-m", "pgkd.commands.cli", "run", str(config), "--out", "run", cwd=tmp_path)
    assert result.returncode != 0
    message = 'pgkd: error: [student] kind = "frozen" does not train data-parallel (world size 2)'
    assert result.stderr.count(message) == 2, result.stderr[-3000:]
    assert not (tmp_path / "run").exists()


def test_rank_0_failing_releases_the_other_ranks(
    tickets: dict[str, Path], tiny_backbone: Path, tmp_path: Path
) -> None:
    """Rank 0 fails building its teacher (only rank 0 builds one) while rank 1 already waits
    for a training request: rank 1 is told and exits cleanly, long before any timeout."""
    config = write_config(tmp_path, tickets, tiny_backbone, "transformer")
    result = torchrun(
        *("-m", "pgkd.commands.cli", "run", str(config), "--out", "run"),
        *("--set", f"teacher.model=pool:{tmp_path / 'missing.jsonl'}"),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "simulation pool file not found" in result.stderr
    assert "<NO_OTHER_FAILURES>" in result.stderr  # rank 1 exited 0
    assert not (tmp_path / "run").exists()
