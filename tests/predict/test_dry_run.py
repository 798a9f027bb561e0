"""``pgkd run --dry-run``: trains model_0, prints step 1's real prompt and the run's estimated
calls, tokens and cost, and calls no teacher (the configured one points at a closed port and
has no key)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pgkd.commands.cli import main
from pgkd.commands.dryrun import dry_run
from pgkd.config import config_from_mapping
from pgkd.progress import Progress
from tests.predict.tiny_students import TICKETS


def config(students: dict[str, Path], model: str) -> dict[str, object]:
    backbone = students["frozen"].parent / "backbone"
    return {
        "data": {"train": str(TICKETS / "train.jsonl"), "test": str(TICKETS / "test.jsonl")},
        "teacher": {
            "model": model,
            "base_url": "http://127.0.0.1:9/v1",
            "samples_per_call": 5,
            "options": {"api_key_env": "PGKD_TEST_NO_SUCH_KEY"},
        },
        "student": {"kind": "frozen", "backbone": str(backbone), "max_length": 64},
        "kd": {"steps": 4, "batch_size": 12},
    }


def write_config(path: Path, mapping: dict[str, object]) -> Path:
    lines = []
    for section, values in mapping.items():
        lines.append(f"[{section}]")
        for key, value in values.items():  # type: ignore[attr-defined]
            if isinstance(value, dict):
                continue
            lines.append(f"{key} = {value!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_estimate_uses_the_real_first_prompt(students: dict[str, Path]) -> None:
    cfg = config_from_mapping(config(students, "openai:gpt-4o-mini"))

    estimate = dry_run(cfg, progress=Progress(live=False, quiet=True))

    assert estimate.calls == 4 * math.ceil(12 / 5)
    # The default sends every call the plain prompt: no scores, no error examples.
    assert "validation" not in estimate.prompt.user.lower()
    prompt_tokens = (len(estimate.prompt.system) + len(estimate.prompt.user)) // 4
    assert estimate.input_tokens_per_call > prompt_tokens
    assert estimate.input_tokens == estimate.calls * estimate.input_tokens_per_call
    expected = (estimate.input_tokens * 0.15 + estimate.output_tokens * 0.60) / 1e6
    assert estimate.cost_usd == pytest.approx(expected)
    # The guided prompt is built from model_0's scores, and costs more per call.
    guided_cfg = config(students, "openai:gpt-4o-mini")
    guided_cfg["plugins"] = {"options": {"call_views": {"explore": 0.0}}}
    guided = dry_run(config_from_mapping(guided_cfg), progress=Progress(live=False, quiet=True))
    assert "validation" in guided.prompt.user.lower()
    assert guided.input_tokens_per_call > estimate.input_tokens_per_call


def test_cli_prints_prompt_and_estimate_and_writes_nothing(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path / "run.toml", config(students, "openai:my-own-finetune"))

    code = main(["run", str(path), "--dry-run", "--quiet"])

    out = capsys.readouterr().out
    assert code == 0
    assert "=== user prompt (step 1) ===" in out
    assert "calls         12 (3 per step" in out
    assert "unknown: 'openai:my-own-finetune' has no known price" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]


def test_run_without_out_or_dry_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.toml"
    path.write_text(f'[data]\ntrain = "{TICKETS / "train.jsonl"}"\n', encoding="utf-8")

    assert main(["run", str(path)]) == 2
    assert "--out RUN_DIR is required" in capsys.readouterr().err
