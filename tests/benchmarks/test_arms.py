"""Smoke test of benchmarks/arms.py: paired arms on a tiny draw, one KD step, with the
SIMULATION teacher; each run's facts and the table land where they should."""

from __future__ import annotations

from pathlib import Path

from benchmarks import arms


def test_arms_run_each_arm_per_seed_and_write_the_table(
    yahoo: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    results = tmp_path / "RESULTS.md"
    argv = ["--dataset", str(yahoo), "--train-size", "100", "--seeds", "0", "--steps", "1"]
    argv += ["--arms", "views", "no_views", "disagree", "--batch-size", "16"]
    argv += ["--backbone", str(tiny_backbone)]
    argv += ["--out", str(tmp_path / "out"), "--results", str(results), "--title", "Arms smoke"]
    rows = arms.main(argv)
    assert [r["arm"] for r in rows] == ["views", "no_views", "disagree"]
    for row in rows:
        assert row["steps"] == 1 and row["generated"] == 16
        assert 0.0 <= row["best_test"] <= 1.0 and row["teacher"].startswith("SIMULATION")
    text = results.read_text()
    assert "## Arms smoke" in text and "best − views (pts, paired)" in text
