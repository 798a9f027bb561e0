"""``pgkd compare``: a real finished run (tiny frozen student, simulation teacher) whose teacher
is then pointed at the loopback server through the real OpenAI SDK, which answers each zero-shot
question with a label of its choosing; every number is checked against what the server said."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score

from pgkd.commands.cli import main
from pgkd.config import config_from_mapping, dump_toml
from pgkd.progress import Progress
from pgkd.runner import run
from pgkd.serving.inference import load_predictor
from pgkd.testing import tiny_bert_backbone
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


@pytest.fixture(scope="module")
def finished_run(tickets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    config = config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "samples_per_call": 8},
            "student": {
                "kind": "frozen",
                "backbone": str(tiny_bert_backbone(root / "backbone")),
                "max_length": 64,
            },
            "kd": {"steps": 1, "batch_size": 16},
        }
    )
    out = root / "run"
    run(config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False)
    return out


def run_with_teacher(
    finished_run: Path, tmp_path: Path, server: LoopbackServer, **edit: Any
) -> Path:
    """A copy of the run whose ``[teacher]`` is the OpenAI protocol at ``server``."""
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    raw = tomllib.loads((copy / "config.toml").read_text(encoding="utf-8"))
    raw["teacher"].update(model="openai:gpt-4o-mini", base_url=server.url + "/v1", concurrency=3)
    for section, values in edit.items():
        raw.setdefault(section, {}).update(values)
        raw[section] = {k: v for k, v in raw[section].items() if v is not None}
    (copy / "config.toml").write_text(dump_toml(raw), encoding="utf-8")
    return copy


def asked_text(served: Any) -> str:
    user = served.body["messages"][-1]["content"]
    return str(user.split("<<<\n", 1)[1].split("\n>>>", 1)[0])


def gold_labels(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {row["text"]: row["label"] for row in rows}


def share(left: list[str], right: list[str]) -> float:
    """The share of positions where the two label lists agree."""
    return sum(a == b for a, b in zip(left, right, strict=True)) / len(left)


def test_numbers_follow_from_what_teacher_and_student_said(
    finished_run: Path,
    tickets: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with LoopbackServer(script=["429"]) as server:
        run_dir = run_with_teacher(finished_run, tmp_path, server)
        code = main(["compare", str(run_dir), "--limit", "12", "--seed", "5", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert result == json.loads((run_dir / "compare.json").read_text(encoding="utf-8"))
    assert kit.SECRET not in out and kit.SECRET not in (run_dir / "compare.json").read_text()

    answered = [s for s in server.served if s.status == 200]
    assert len(server.served) == 13 and len(answered) == 12  # one 429, retried
    texts = [asked_text(s) for s in answered]
    assert len(set(texts)) == 12
    teacher = {asked_text(s): s.label for s in answered}
    gold = gold_labels(tickets["test"])
    golds = [gold[t] for t in texts]
    predictor = load_predictor(run_dir)
    probabilities = predictor.predict_proba(texts)  # type: ignore[union-attr]
    student = [predictor.labels[int(i)] for i in np.argmax(probabilities, axis=1)]  # type: ignore[union-attr]
    said = [teacher[t] for t in texts]

    assert result["split"] == "test" and result["texts"] == 12 and result["note"] is None
    assert result["teacher"]["model"] == "openai:gpt-4o-mini"
    assert result["teacher"]["accuracy"] == pytest.approx(share(said, golds))
    present = sorted(set(golds))
    assert result["teacher"]["macro_f1"] == pytest.approx(
        f1_score(golds, said, labels=present, average="macro", zero_division=0)
    )
    assert result["student"]["accuracy"] == pytest.approx(share(student, golds))
    assert result["agreement"] == pytest.approx(share(student, said))
    assert result["teacher"]["calls"] == 13 and result["teacher"]["retries"] == 1
    assert result["teacher"]["failed_calls"] == 1
    totals = server.totals()
    assert result["teacher"]["input_tokens"] == totals["input_tokens"]
    assert result["teacher"]["output_tokens"] == totals["output_tokens"]
    teacher_s, student_s = (
        result["teacher"]["seconds_per_text"],
        result["student"]["seconds_per_text"],
    )
    assert teacher_s > 0 and student_s > 0
    assert result["speedup"] == pytest.approx(teacher_s / student_s)


def test_table_and_fallback_to_validation(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackServer() as server:
        run_dir = run_with_teacher(finished_run, tmp_path, server, data={"test": None})
        code = main(["compare", str(run_dir), "--limit", "5"])
    out = capsys.readouterr().out
    assert code == 0 and len(server.served) == 5
    result = json.loads((run_dir / "compare.json").read_text(encoding="utf-8"))
    assert result["split"] == "validation" and "no test split" in result["note"]
    assert "5 validation texts" in out and "no test split" in out
    for line in ("teacher ", "student ", "agreement", "speed-up", "5 calls"):
        assert line in out


def test_one_line_errors(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a pgkd run directory" in err

    with LoopbackServer(script=["401"]) as server:
        run_dir = run_with_teacher(finished_run, tmp_path, server)
        assert main(["compare", str(run_dir), "--limit", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "401" in err and kit.SECRET not in err
    assert not (run_dir / "compare.json").exists()

    ner = tmp_path / "ner"
    ner.mkdir()
    raw = tomllib.loads((finished_run / "config.toml").read_text(encoding="utf-8"))
    raw["task"] = {"name": "ner"}
    (ner / "config.toml").write_text(dump_toml(raw), encoding="utf-8")
    assert main(["compare", str(ner)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'ner' run" in err and "classification runs" in err


def test_a_simulation_teacher_is_refused_and_another_llm_can_stand_in(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    # The run's own teacher is the SIMULATION pool: it cannot label a text it is shown.
    assert main(["compare", str(copy), "--limit", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SIMULATION" in err and "--teacher" in err
    assert not (copy / "compare.json").exists()

    with LoopbackServer() as server:
        url = server.url + "/v1"
        args = ["compare", str(copy), "--limit", "4", "--teacher", "openai:gpt-4o-mini"]
        assert main([*args, "--base-url", url]) == 0
    result = json.loads((copy / "compare.json").read_text(encoding="utf-8"))
    assert result["teacher"]["model"] == "openai:gpt-4o-mini" and len(server.served) == 4
    assert url not in (copy / "compare.json").read_text(encoding="utf-8")
    # The run itself is untouched: its config still names its own teacher.
    assert "pool:" in (copy / "config.toml").read_text(encoding="utf-8")

    assert main(["compare", str(copy), "--teacher", "gpt4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "provider:model" in err
