"""Smoke test: ``benchmarks/budget_comparison.py`` runs its arms end to end at a tiny size and
writes its RESULTS.md section (yahoo_answers, 100 rows, 1 seed, 1 KD step, a tiny BERT)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("pgkd_budget")

from benchmarks import budget_comparison


def test_budget_comparison_runs_every_arm_and_writes_its_section(
    yahoo: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    results = tmp_path / "RESULTS.md"
    argv = ["--dataset", str(yahoo), "--train-size", "100", "--seeds", "0", "--steps", "1"]
    argv += ["--backbone", str(tiny_backbone), "--arms", "guided", "budget", "budget_same_prompt"]
    argv += ["--out", str(tmp_path / "out"), "--results", str(results)]
    rows = budget_comparison.main(argv)
    assert [r["variant"] for r in rows] == ["guided", "budget", "budget_same_prompt"]
    assert [r["teacher_calls"] for r in rows] == [4, 4, 4]
    assert all(r["generated"] == 32 for r in rows)
    text = results.read_text()
    assert f"## {budget_comparison.TITLE}" in text and "### yahoo_answers" in text
    assert "budget − guided: best student accuracy" in text and "@ step 1" in text
    # The budget arms' prompts carry the counts line; with the same prompt for every call of
    # the step, every class comes in multiples of the 4 calls.
    for arm in ("budget", "budget_same_prompt"):
        run_dir = tmp_path / "out" / "yahoo_answers" / "n100" / "seed0" / arm
        lines = (run_dir / "journal.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        prompt = next(e for e in events if e["event"] == "prompt")
        assert "counts: {" in prompt["user"]
        mix = Counter(e["record"]["label"] for e in events if e["event"] == "sample")
        assert sum(mix.values()) == 32
        if arm == "budget_same_prompt":
            assert all(n % 4 == 0 for n in mix.values())
    # A second call reuses the finished runs.
    again = budget_comparison.main(argv)
    assert [r["wall_seconds"] for r in again] == [r["wall_seconds"] for r in rows]
