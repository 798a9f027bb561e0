"""The RESULTS.md section of ``budget_comparison.py``: one table per data set, paired seeds."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.protocol import gains, metric, paired
from benchmarks.tables import machine_line, markdown_table, mean_std, signed

#: Arms in table order, and the paired differences reported under each table.
ORDER = ("uniform", "guided", "budget", "budget_same_prompt", "budget_even")
PAIRS = (
    ("budget", "guided"),
    ("budget", "uniform"),
    ("guided", "uniform"),
    ("budget", "budget_same_prompt"),
    ("budget", "budget_even"),
    ("budget_even", "uniform"),
)


def at_step(row: dict[str, Any], step: int) -> dict[str, float] | None:
    """Test scores of the run's student after ``step`` (from its ``metrics.jsonl``)."""
    path = Path(row["run_dir"]) / "metrics.jsonl"
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("step") == step and "test" in record:
            return {key: float(record["test"][key]) for key in ("accuracy", "macro_f1")}
    return None


def equal_spend_cells(rows: Sequence[dict[str, Any]], step: int) -> list[str]:
    """Accuracy and macro-F1 (mean ± std) of the students after ``step``: every arm has paid
    for exactly ``step`` x 32 samples there, whatever early stopping did later."""
    found = [s for s in (at_step(r, step) for r in rows) if s is not None]
    if len(found) < len(rows):
        return ["–", "–"]
    return [mean_std([s[key] for s in found]) for key in ("accuracy", "macro_f1")]


def paired_at_step(
    a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], key: str, step: int
) -> list[float]:
    """Per-seed differences (a - b) of the students after ``step``."""
    by_seed = {r["seed"]: at_step(r, step) for r in b}
    diffs = []
    for row in a:
        mine, theirs = at_step(row, step), by_seed.get(row["seed"])
        if mine is not None and theirs is not None:
            diffs.append(mine[key] - theirs[key])
    return diffs


def _paired_line(a: str, b: str, by_arm: dict[str, list[dict[str, Any]]], step: int) -> str | None:
    if a not in by_arm or b not in by_arm:
        return None
    acc, wins = paired(by_arm[a], by_arm[b], "accuracy")
    mf1, mf1_wins = paired(by_arm[a], by_arm[b], "macro_f1")
    at_acc = paired_at_step(by_arm[a], by_arm[b], "accuracy", step)
    at_mf1 = paired_at_step(by_arm[a], by_arm[b], "macro_f1", step)
    return (
        f"- {a} − {b}: best student accuracy {signed(acc, digits=2)} (ahead on {wins}/{len(acc)} "
        f"seeds), macro-F1 {signed(mf1, digits=2)} (ahead on {mf1_wins}/{len(mf1)}); "
        f"@ step {step} accuracy {signed(at_acc, digits=2)} (ahead on "
        f"{sum(d > 0 for d in at_acc)}/{len(at_acc)}), macro-F1 {signed(at_mf1, digits=2)}"
    )


def dataset_table(rows: Sequence[dict[str, Any]]) -> str:
    by_arm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_arm[row["variant"]].append(row)
    arms = [a for a in ORDER if a in by_arm] + sorted(set(by_arm) - set(ORDER))
    # Every run reaches this step (KD patience 5 stops a run at step 5 at the earliest).
    step = min(int(r["steps_run"]) for r in rows)
    header = ["arm", "accuracy", "macro-F1", "Δ acc", "Δ macro-F1", "best step", "accepted"]
    header += ["calls", "tokens in / out (k)", f"acc @ step {step}", f"macro-F1 @ step {step}"]
    first = by_arm[arms[0]]
    table: list[list[object]] = [
        [
            "model_0 (no KD)",
            mean_std(metric(first, "model_0", "test", "accuracy")),
            mean_std(metric(first, "model_0", "test", "macro_f1")),
            "",
            "",
            "0",
            "0",
            "0",
            "0",
            "",
            "",
        ]
    ]
    for arm in arms:
        group = by_arm[arm]
        tokens_in = statistics.fmean(r.get("input_tokens", 0) for r in group) / 1000
        tokens_out = statistics.fmean(r.get("output_tokens", 0) for r in group) / 1000
        table.append(
            [
                f"{arm}: {group[0].get('arm_description', '')}",
                mean_std(metric(group, "best", "test", "accuracy")),
                mean_std(metric(group, "best", "test", "macro_f1")),
                signed(gains(group, "test", "accuracy"), digits=2),
                signed(gains(group, "test", "macro_f1"), digits=2),
                f"{statistics.fmean(r['best_step'] for r in group):.1f}",
                f"{statistics.fmean(r['accepted'] for r in group):.0f}",
                f"{statistics.fmean(r.get('teacher_calls', 0) for r in group):.0f}",
                f"{tokens_in:.0f} / {tokens_out:.0f}",
                *equal_spend_cells(group, step),
            ]
        )
    lines = [markdown_table(header, table), "", "Paired by seed (test, points):", ""]
    lines += [line for a, b in PAIRS if (line := _paired_line(a, b, by_arm, step))]
    return "\n".join(lines)


def dataset_notes(rows: Sequence[dict[str, Any]]) -> str:
    first = rows[0]
    seeds = sorted({r["seed"] for r in rows})
    dropped = sorted({(r["dropped_test_rows"], r["dropped_test_classes"]) for r in rows})
    dropped_text = "; ".join(f"{n} rows of {c} classes" for n, c in dropped)
    pools = sorted({r["pool_rows"] for r in rows})
    minutes = sum(r["wall_seconds"] for r in rows) / 60
    return (
        f"Seeds {', '.join(map(str, seeds))}; {first['drawn']} rows drawn per seed "
        f"({first['n_validation']} validation); test split {first['n_test']} rows scored, "
        f"{dropped_text} dropped because the draw lacks their label; SIMULATION pool "
        f"{pools[0]}–{pools[-1]} unseen train rows per seed; {first['steps']} KD steps × 32 "
        f"samples, KD patience 5; {len(rows)} runs, {minutes:.0f} min of machine time."
    )


def render_section(rows: Sequence[dict[str, Any]]) -> str:
    """The whole section body, one ``###`` part per data set, in first-seen order."""
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_dataset[row["dataset"]].append(row)
    parts = [
        f"{machine_line()}.",
        "Teacher = SIMULATION (`pool:`): real, unseen train rows of the same data set; it "
        "chooses classes, it does not write, so these numbers measure where each strategy "
        "puts the samples, not any LLM's writing. Frozen MiniLM-L6 + logistic-regression "
        "student (bf16 embeddings), the paper's protocol (`benchmarks/protocol.py`). "
        "Test scores in points, mean ± sample std over seeds. The best student is the one with "
        "the lowest validation loss (KD patience 5 may end a run early, so an arm's total spend "
        "can differ: see calls); Δ is best student − model_0; `@ step k` scores the students "
        "after step k, where every run of every arm has paid for exactly k × 32 samples.",
    ]
    for dataset, group in by_dataset.items():
        commands = sorted({r["command"] for r in group})
        parts += [
            f"### {dataset}",
            "\n".join(f"`{command}`" for command in commands),
            dataset_table(group),
            dataset_notes(group),
        ]
    return "\n\n".join(parts)
