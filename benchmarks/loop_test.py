"""How much the loop overfits its validation set: validation gains against loop-test gains.

The validation split steers generation (its per-class report goes into the prompt) and picks
the best step (lowest validation loss), so the gain measured on it is optimistic. With
``[data] loop_test_fraction`` pgkd holds out a further share of the labelled rows that never
steers or stops the loop; the best student's gain over model_0 on it is an honest in-domain
estimate. This script reads the protocol's ``results.jsonl`` (runs made with
``protocol.py --loop-test-fraction F``) and reports, per data set and variant, the gain of the
chosen student over model_0 on validation, on the loop-test split and on the full test split,
and the gap validation − loop-test (positive = validation flatters the loop).

    .venv/bin/python benchmarks/protocol.py --dataset ag_news --loop-test-fraction 0.2 \\
        --tag looptest --out runs/bench/protocol
    .venv/bin/python benchmarks/loop_test.py runs/bench/protocol/results.jsonl \\
        --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import (  # noqa: E402
    command_line,
    machine_line,
    markdown_table,
    signed,
    write_section,
)


def gain(row: dict[str, Any], split: str, key: str) -> float:
    return float(row["best"][split][key]) - float(row["model_0"][split][key])


def loss_drop(row: dict[str, Any], split: str) -> float:
    """How much the loss fell from model_0 to the chosen student (positive = better)."""
    return float(row["model_0"][split]["loss"]) - float(row["best"][split]["loss"])


def read_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines if line.strip()]
    latest = {(r["run_dir"]): r for r in rows if r.get("loop_test_fraction")}
    return list(latest.values())


def table(rows: Sequence[dict[str, Any]]) -> str:
    groups: dict[tuple[str, int, str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (row["dataset"], row["train_size"], row["variant"], row["loop_test_fraction"])
        groups[key].append(row)
    header = ["data set", "variant", "seeds", "val / loop-test / test rows"]
    header += ["Δ acc val", "Δ acc loop-test", "Δ acc test", "gap val − loop-test"]
    header += ["gap val − test", "gap loop-test − test"]
    header += ["Δ macro-F1 val", "Δ macro-F1 loop-test", "gap", "loss drop val / loop-test"]
    out = []
    for (dataset, size, variant, _), group in sorted(groups.items()):
        first = group[0]
        acc = {
            split: [gain(r, split, "accuracy") for r in group]
            for split in ("val", "loop_test", "test")
        }
        mf1 = {split: [gain(r, split, "macro_f1") for r in group] for split in ("val", "loop_test")}
        gap_acc = [v - lt for v, lt in zip(acc["val"], acc["loop_test"], strict=True)]
        gap_mf1 = [v - lt for v, lt in zip(mf1["val"], mf1["loop_test"], strict=True)]
        val_test = [v - t for v, t in zip(acc["val"], acc["test"], strict=True)]
        loop_test_test = [lt - t for lt, t in zip(acc["loop_test"], acc["test"], strict=True)]
        losses = [loss_drop(r, "val") for r in group], [loss_drop(r, "loop_test") for r in group]
        out.append(
            [
                f"{dataset} ({size})", variant, len(group),
                f"{first['n_validation']} / {first['n_loop_test']} / {first['n_test']}",
                signed(acc["val"]), signed(acc["loop_test"]), signed(acc["test"]),
                f"**{signed(gap_acc)}**", signed(val_test), signed(loop_test_test),
                signed(mf1["val"]), signed(mf1["loop_test"]),
                f"**{signed(gap_mf1)}**",
                f"{signed(losses[0], 1, 3)} / {signed(losses[1], 1, 3)}",
            ]
        )  # fmt: skip
    return markdown_table(header, out)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_jsonl", type=Path, nargs="+", help="protocol.py results.jsonl")
    parser.add_argument("--results", type=Path, help="write the table into this RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    rows = read_rows(args.results_jsonl)
    if not rows:
        raise SystemExit("no runs with a loop-test split; run protocol.py --loop-test-fraction F")
    seeds = sorted({r["seed"] for r in rows})
    body = "\n\n".join(
        [
            f"`{command_line('loop_test.py', argv)}`",
            f"{machine_line()}; seeds {', '.join(map(str, seeds))}; loop-test fraction "
            f"{rows[0]['loop_test_fraction']} of the training part of the draw.",
            table(rows),
            "Gains of the chosen (lowest validation loss) student over model_0, in points, "
            "mean ± sample std over seeds; loss drops in nats. A positive gap means the "
            "validation split, which steered the loop and picked the step, overstates the gain "
            "an untouched in-domain split sees. The full test split is the reference the two "
            "small splits estimate: compare the spread of their gaps to it.",
        ]
    )
    print(body)
    if args.results:
        write_section("Loop-test split: validation vs held-out gains", body, args.results)
    return body


if __name__ == "__main__":
    main()
