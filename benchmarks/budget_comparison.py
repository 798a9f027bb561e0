"""Per-class sample budget (``plugins/pgkd-budget``) against the paper's prompt-only guidance
and unguided generation, at equal teacher spend, on the paper's protocol.

Every arm runs :mod:`benchmarks.protocol`'s protocol unchanged (the same seeded draw of 1,000
train rows split 800/200, the frozen student, 10 KD steps x 32 samples, KD patience 5, every
built-in plugin on, model_0 and the best student scored on the full test split minus the rows
whose label the draw lacks) with the SIMULATION teacher ``pool:``, which answers with real,
unseen rows of the same data set and only decides *which classes* to hand out:

    uniform             unguided: classes at random (``strategy = "uniform"``)
    guided              the paper's prompt-only guidance: the teacher decides from the prompt's
                        report and examples where to add data (``strategy = "guided"``)
    budget              pgkd-budget decides: each call's ``counts:`` line names the samples per
                        class of that answer, the teacher writes exactly those (``strategy =
                        "request"``), and the step's 4 answers make the step's plan
    budget_same_prompt  the same, but every call of a step gets the first answer's counts
                        (``split_calls = false``): a step receives 4 x one answer
    budget_even         control: the same machinery with no guidance at all, every class an
                        equal share (``floor_share = 1``): what exact, stratified counts are
                        worth without any weakness signal

Equal spend: every arm asks 32 samples a step in 4 calls of 8 (``[teacher] samples_per_call``
at pgkd's default), so calls and tokens match up to the prompt's length.

A SIMULATION pool can run out of a class (amazon_htc has classes with one or two rows), which an
LLM never does, so the budget arms give the plugin the pool's remaining rows per class as its
``capacity``; the guided and uniform teachers draw only from classes the pool still holds too.

All seeds and arms of one data set run in one process (the frozen student embeds the test split
once). Rows go to ``OUT/results.jsonl`` (a finished run is reused unless ``--overwrite``), run
directories to ``OUT/<dataset>/n<size>/seed<k>/<arm>/``; ``--results benchmarks/RESULTS.md``
writes the section for every data set in ``OUT/results.jsonl``.

    .venv/bin/python benchmarks/budget_comparison.py --dataset huffpost \\
        --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import protocol  # noqa: E402
from benchmarks.budget_tables import render_section  # noqa: E402
from benchmarks.simulation_teacher import SimulationHandle  # noqa: E402
from benchmarks.tables import command_line, write_section  # noqa: E402
from pgkd.config import Config  # noqa: E402
from pgkd.errors import PgkdError  # noqa: E402
from pgkd.progress import Progress  # noqa: E402
from pgkd.runner import run  # noqa: E402

TITLE = "Per-class budget vs prompt-only guidance (simulation)"


@dataclass(frozen=True)
class Arm:
    description: str
    strategy: str
    budget: bool = False
    samples_per_call: int = 8
    teacher_options: dict[str, Any] = field(default_factory=dict)
    budget_options: dict[str, Any] = field(default_factory=dict)


ARMS: dict[str, Arm] = {
    "uniform": Arm("unguided, classes at random", "uniform"),
    "guided": Arm("prompt-only guidance (paper)", "guided"),
    "budget": Arm("per-class budget plugin", "request", budget=True),
    "budget_same_prompt": Arm(
        "per-class budget, every call the first answer's counts",
        "request",
        budget=True,
        budget_options={"split_calls": False},
    ),
    "budget_even": Arm(
        "control: budget machinery, equal shares, no guidance",
        "request",
        budget=True,
        budget_options={"floor_share": 1.0, "prior_share": 0.0},
    ),
}


def arm_config(args: argparse.Namespace, data: protocol.SeedData, seed: int, arm: Arm) -> Config:
    variant = protocol.Variant(
        arm.description, teacher_options={"strategy": arm.strategy, **arm.teacher_options}
    )
    config = protocol.build_config(args, data, seed, variant)
    config.teacher.samples_per_call = arm.samples_per_call
    return config


def arm_plugins(arm: Arm, budget_options: dict[str, Any]) -> list[object]:
    if not arm.budget:
        return []
    from pgkd_budget import BudgetOptions, BudgetPlugin

    options = BudgetOptions().updated({**arm.budget_options, **budget_options})
    return [capacity := SimulationHandle(), BudgetPlugin(options, capacity=capacity)]


def run_arm(
    args: argparse.Namespace,
    dataset: str,
    seed: int,
    name: str,
    data: protocol.SeedData,
    run_dir: Path,
    progress: Progress,
) -> dict[str, Any]:
    arm = ARMS[name]
    config = arm_config(args, data, seed, arm)
    started = time.perf_counter()
    summary = run(
        config,
        run_dir,
        overwrite=True,
        progress=progress,
        extra_plugins=arm_plugins(arm, args.budget_options),
        entry_points_enabled=False,
    )
    seconds = time.perf_counter() - started
    row = protocol.result_row(args, dataset, args.train_size[0], seed, name, data, summary, seconds)
    teacher = summary.get("teacher", {})
    row.update(
        arm_description=arm.description,
        samples_per_call=arm.samples_per_call,
        budget_options={**arm.budget_options, **args.budget_options} if arm.budget else {},
        teacher_calls=int(teacher.get("calls", 0)),
        input_tokens=int(teacher.get("input_tokens", 0)),
        output_tokens=int(teacher.get("output_tokens", 0)),
        command=command_line("budget_comparison.py", args.argv),
    )
    return row


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["dataset"], row["train_size"], row["steps"], row["seed"], row["variant"])


def run_comparison(args: argparse.Namespace) -> list[dict[str, Any]]:
    dataset = args.dataset if args.dataset.is_dir() else protocol.DATASETS / str(args.dataset)
    name, size = dataset.name, args.train_size[0]
    results = args.out / "results.jsonl"
    done = {row_key(r): r for r in protocol.read_rows(results)}
    progress = Progress.auto(quiet=not args.verbose)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        seed_dir = args.out / name / f"n{size}" / f"seed{seed}"
        data = protocol.draw_seed_data(dataset, size, seed, seed_dir / "data", with_pool=True)
        for arm in args.arms:
            run_dir = seed_dir / arm
            key = (name, size, args.steps, seed, arm)
            if key in done and not args.overwrite and (run_dir / "summary.json").exists():
                rows.append(done[key])
                continue
            try:
                row = run_arm(args, name, seed, arm, data, run_dir, progress)
            except PgkdError as exc:
                # One broken run must not cost the others; it is missing from the table.
                print(f"{name} seed={seed} {arm}: FAILED: {exc}", file=sys.stderr, flush=True)
                continue
            with open(results, "a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
            rows.append(row)
            m0, best = row["model_0"]["test"], row["best"]["test"]
            print(
                f"{name} seed={seed} {arm:13s} model_0 acc {m0['accuracy']:.4f} -> best "
                f"{best['accuracy']:.4f} (step {row['best_step']}/{row['steps_run']}), "
                f"{row['wall_seconds']:.0f} s",
                flush=True,
            )
    return rows


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="name or folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--backbone", help="[student] backbone: a local model folder")
    parser.add_argument(
        "--budget-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pgkd_budget.BudgetOptions field for the budget arms (value read as TOML)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "budget")
    parser.add_argument("--results", type=Path, help="write the section into this RESULTS.md")
    parser.add_argument("--overwrite", action="store_true", help="re-run finished runs")
    parser.add_argument("--verbose", action="store_true", help="pgkd's progress output")
    args = parser.parse_args(argv)
    # The protocol's own settings (student, KD patience, batch, bf16 ...), at its defaults.
    base = ["--dataset", str(args.dataset), "--train-size", str(args.train_size)]
    base += ["--steps", str(args.steps)]
    if args.backbone:
        base += ["--backbone", args.backbone]
    merged = protocol.parse(base)
    for key, value in vars(args).items():
        if key != "train_size":
            setattr(merged, key, value)
    merged.argv = list(sys.argv[1:] if argv is None else argv)
    merged.budget_options = protocol.parse_options(args.budget_option)
    return merged


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = run_comparison(args)
    body = render_section(protocol.read_rows(args.out / "results.jsonl"))
    print(f"\n## {TITLE}\n\n{body}")
    if args.results:
        write_section(TITLE, body, args.results)
    return rows


if __name__ == "__main__":
    main()
