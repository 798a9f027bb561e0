"""The rewrite prompt: it hands the teacher the misclassified and hard-negative training
examples with their true labels, passes the held-out check, and is off unless enabled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.builtin.prompt import SYSTEM as PAPER_SYSTEM
from pgkd.builtin.rewrite import SYSTEM, render_rewrite_prompt, rewrite_line
from pgkd.config import config_from_mapping
from pgkd.errors import ConfigError
from pgkd.guard import HeldOutGuard
from pgkd.plugins import build_plugin_manager
from pgkd.progress import Progress
from pgkd.runner import run
from tests.core.test_call_views import HELD_OUT, plans, step_context


def enabled(ctx: Any, value: object = True) -> Any:
    ctx.settings.plugins.options["rewrite"] = {"enabled": value}
    return ctx


def test_the_prompt_carries_each_error_example_with_its_true_label() -> None:
    ctx = step_context()
    prompt = render_rewrite_prompt(ctx, 8)
    assert prompt is not None and prompt.system == SYSTEM
    for name in ("hard_negatives", "incorrect"):
        for example in ctx.examples[name]:
            assert example.prediction is not None and not example.prediction.correct
            line = rewrite_line(example)
            assert line in prompt.user
            assert f"label: {example.sample.target} | text: " in line
            assert line.endswith(f"the student said: {example.prediction.target}")
    # Correct examples and the validation report are not what a rewrite needs.
    assert all(rewrite_line(e) not in prompt.user for e in ctx.examples["correct"])
    assert ctx.report["validation_report"] not in prompt.user
    assert "Write 8 new texts" in prompt.user
    # As data, it shows the lists it asks to rewrite and no validation scores.
    assert prompt.contents is not None and prompt.contents.validation is None
    assert dict(prompt.contents.examples) == {
        name: tuple(ctx.examples[name]) for name in ("hard_negatives", "incorrect")
    }
    HeldOutGuard([HELD_OUT]).check_prompt(prompt.text)


def test_without_errors_it_rewrites_the_few_shot_examples_and_without_any_it_declines() -> None:
    ctx = step_context()
    ctx.examples["hard_negatives"] = ctx.examples["incorrect"] = []
    prompt = render_rewrite_prompt(ctx, 4)
    assert prompt is not None
    assert all(rewrite_line(e) in prompt.user for e in ctx.examples["few_shot"])
    ctx.examples.clear()
    assert render_rewrite_prompt(ctx, 4) is None


def test_off_by_default_on_by_option_and_a_bad_value_is_named() -> None:
    pm = build_plugin_manager(entry_points_enabled=False)
    ctx = step_context()
    assert pm.hook.build_prompt(context=ctx, n_samples=8).system == PAPER_SYSTEM
    assert pm.hook.build_prompt(context=enabled(ctx), n_samples=8).system == SYSTEM
    with pytest.raises(ConfigError, match=r"\[plugins.options.rewrite\] enabled = 'yes'"):
        pm.hook.build_prompt(context=enabled(step_context(), "yes"), n_samples=8)


def test_each_call_rewrites_its_own_slice_without_a_class_focus() -> None:
    ctx = enabled(step_context())
    pm = build_plugin_manager(entry_points_enabled=False)
    prompt = pm.hook.build_prompt(context=ctx, n_samples=8)
    assert prompt.system == SYSTEM
    sent = plans(ctx, 2, prompt=prompt)
    assert sent[0].prompt.user != sent[1].prompt.user
    for example in ctx.examples["hard_negatives"]:
        assert any(rewrite_line(example) in plan.prompt.user for plan in sent)
    assert all("favour these labels" not in plan.prompt.user for plan in sent)


def test_a_run_in_rewrite_mode(tickets: dict[str, Path], tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 1, "batch_size": 16},
            "plugins": {"options": {"rewrite": {"enabled": True}}},
        }
    )
    out = tmp_path / "run"
    quiet = Progress(live=False, quiet=True)
    summary = run(config, out, progress=quiet, entry_points_enabled=False)
    assert summary["samples"]["generated"] == 16
    events = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    prompts = [e for e in events if e.get("event") in ("prompt", "call_prompt")]
    assert prompts and all(e["system"] == SYSTEM for e in prompts if "system" in e)
    assert any("label: " in e.get("user", "") for e in prompts)
