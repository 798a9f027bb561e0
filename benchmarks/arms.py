"""Paired arms of one PGKD configuration: per-call views, the rewrite prompt, sample filters.

Each arm is a config change only (plugins turned off, ``[plugins.options.NAME]`` tables); all
arms of a seed share the seed's draw, split and model_0, so their differences are paired by
seed. Per run it records what the arm is about: duplicates rejected per step, the accepted
share, what the filters rejected, the teacher's calls and spend, and model_0 and the best
student on the test split.

Data: ``--dataset demo`` is the bundled support tickets (``examples/support_tickets``, its own
train / validation / test files, the demo's KD settings); any other name is a shared data set,
drawn as ``benchmarks/protocol.py`` draws it (``--train-size`` rows, stratified by seed; with
the SIMULATION teacher a per-seed pool of the rest). ``--teacher pool`` is the SIMULATION
teacher (``--teacher-option writer=imitate`` etc. pass its options), anything else a real
``provider:model`` such as ``local:smollm2``.

    .venv/bin/python benchmarks/arms.py --dataset demo --teacher local:smollm2 \\
        --arms views no_views --seeds 0 1 2 --out runs/bench/arms --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol import DATASETS, draw_seed_data, parse_options  # noqa: E402
from benchmarks.tables import command_line, machine_line, markdown_table, write_section  # noqa: E402
from pgkd.config import Config, config_from_mapping  # noqa: E402
from pgkd.data import load_samples, stratified_sample  # noqa: E402
from pgkd.progress import Progress  # noqa: E402
from pgkd.runner import run  # noqa: E402
from pgkd.tasks.classification import ClassificationTask  # noqa: E402

DEMO = ROOT / "examples" / "support_tickets"
DUPLICATES = ("duplicate_of_history", "duplicate_in_batch")


@dataclass(frozen=True)
class Arm:
    description: str
    disable: tuple[str, ...] = ()
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


ARMS: dict[str, Arm] = {
    "views": Arm("the paper's prompt, per-call views (default)"),
    "no_views": Arm("the paper's prompt, every call the step's prompt", disable=("call_views",)),
    "rewrite": Arm("rewrite prompt, per-call views", options={"rewrite": {"enabled": True}}),
    "rewrite_no_views": Arm(
        "rewrite prompt, every call the step's prompt",
        disable=("call_views",),
        options={"rewrite": {"enabled": True}},
    ),
    "vote": Arm("neighbour-vote filter on", options={"neighbour_vote": {"enabled": True}}),
    "disagree": Arm(
        "confident-disagreement filter on",
        options={"confident_disagreement": {"enabled": True}},
    ),
}


def demo_config(args: argparse.Namespace, seed: int, arm: Arm) -> Config:
    return config_from_mapping(
        {
            "data": {
                "train": str(DEMO / "train.jsonl"),
                "validation": str(DEMO / "validation.jsonl"),
                "test": str(DEMO / "test.jsonl"),
            },
            "teacher": {
                "model": args.teacher,
                "concurrency": 1,
                "samples_per_call": 8,
                "max_tokens": 1024,
                "temperature": 0.9,
                "options": {"n_ctx": 4096, **parse_options(args.teacher_option)},
            },
            "student": {"kind": "frozen"},
            "kd": {
                "steps": args.steps,
                "patience": args.patience,
                "batch_size": args.batch_size or 16,
                "few_shot": 6,
                "correct": 3,
                "incorrect": 4,
                "hard_negatives": 4,
                "seed": seed,
            },
            "plugins": {"disable": list(arm.disable), "options": arm.options},
        },
        source="benchmarks/arms.py",
    )


def dataset_config(
    args: argparse.Namespace, seed: int, arm: Arm, train: Path, test: Path, pool: Path | None
) -> Config:
    teacher: dict[str, Any] = {
        "model": f"pool:{pool}" if pool is not None else args.teacher,
        "options": parse_options(args.teacher_option),
    }
    if pool is None:
        teacher.update({"concurrency": 1, "max_tokens": 1024, "temperature": 0.9})
        teacher["options"] = {"n_ctx": 4096, **teacher["options"]}
    kd: dict[str, Any] = {"steps": args.steps, "patience": args.patience, "seed": seed}
    if args.batch_size:
        kd["batch_size"] = args.batch_size
    if pool is None:
        kd.update({"few_shot": 6, "correct": 3, "incorrect": 4, "hard_negatives": 4})
    return config_from_mapping(
        {
            "data": {"train": str(train), "test": str(test), "validation_fraction": 0.2},
            "teacher": teacher,
            "student": {"kind": "frozen", "options": {"bf16": True}, "backbone": args.backbone},
            "kd": kd,
            "plugins": {"disable": list(arm.disable), "options": arm.options},
        },
        source="benchmarks/arms.py",
    )


def test_subset(test: Path, limit: int, folder: Path) -> Path:
    """A stratified, seeded draw of ``limit`` rows of the test split (the same for every seed
    and arm), so a slow teacher's runs do not spend their time embedding a large test split."""
    task = ClassificationTask()
    rows = load_samples(test, task)
    if len(rows) <= limit:
        return test
    kept, _ = stratified_sample(rows, limit, task, 0)
    out = folder / "data" / f"test{limit}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(task.to_record(s), ensure_ascii=False) + "\n" for s in kept]
    out.write_text("".join(lines), encoding="utf-8")
    return out


def noisy_pool(pool: Path, p: float, seed: int) -> Path:
    """A copy of the SIMULATION pool in which a share ``p`` of the rows (seeded) carry a wrong
    label, drawn among the 3 other classes whose TF-IDF centroid is closest to the row's text,
    in proportion to that closeness: a stand-in for a teacher that mislabels texts near a
    class boundary, for the simulation teacher versions without a ``label_noise`` option."""
    import random

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    rows = [json.loads(line) for line in pool.read_text(encoding="utf-8").split("\n") if line]
    labels = sorted({r["label"] for r in rows})
    vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")
    matrix = vectors.fit_transform([r["text"] for r in rows])
    index = {label: i for i, label in enumerate(labels)}
    member = np.zeros((len(labels), len(rows)))
    for j, r in enumerate(rows):
        member[index[r["label"]], j] = 1.0
    centroids = normalize(member @ matrix)
    rng = random.Random(f"noise:{seed}:{p}")
    flipped = rng.sample(range(len(rows)), round(p * len(rows)))
    for j in flipped:
        closeness = (matrix[j] @ centroids.T).ravel()
        others = [i for i in np.argsort(-closeness) if labels[i] != rows[j]["label"]][:3]
        weights = [max(float(closeness[i]), 1e-9) for i in others]
        rows[j] = {**rows[j], "label": labels[rng.choices(others, weights=weights)[0]]}
    out = pool.with_name(f"pool-noise{p:g}.jsonl")
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return out


def run_facts(run_dir: Path) -> dict[str, Any]:
    """What one finished run says about its arm, from its metrics lines and summary."""
    lines = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if line.strip()
    ]
    summary = json.loads((run_dir / "summary.json").read_text())
    steps = [line for line in lines if line.get("step", 0) > 0]
    reasons: dict[str, int] = {}
    for line in steps:
        for reason, count in (line.get("rejected_by_reason") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + int(count)
    generated = sum(int(line.get("accepted", 0)) + int(line.get("rejected", 0)) for line in steps)
    accepted = sum(int(line.get("accepted", 0)) for line in steps)
    return {
        "steps": len(steps),
        "generated": generated,
        "accepted": accepted,
        "rejected_by_reason": reasons,
        "duplicates_per_step": sum(reasons.get(r, 0) for r in DUPLICATES) / max(1, len(steps)),
        "calls": sum(int((line.get("generation") or {}).get("calls", 0)) for line in steps),
        "cost_usd": sum(
            float((line.get("generation") or {}).get("cost_usd", 0.0)) for line in steps
        ),
        "model_0_test": summary["model_0"].get("test", {}).get("accuracy"),
        "best_test": summary["best"].get("test", {}).get("accuracy"),
        "model_0_macro_f1": summary["model_0"].get("test", {}).get("macro_f1"),
        "best_macro_f1": summary["best"].get("test", {}).get("macro_f1"),
        "last_test": (lines[-1].get("test") or {}).get("accuracy"),
        "best_step": summary["best_step"],
        "steps_run": summary["steps_run"],
    }


def run_arms(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = args.out / "results.jsonl"
    rows: list[dict[str, Any]] = []
    progress = Progress.auto(quiet=not args.verbose)
    simulation = args.teacher == "pool"
    for seed in args.seeds:
        folder = Path(args.dataset) if Path(args.dataset).is_dir() else DATASETS / args.dataset
        seed_dir = args.out / folder.name / (args.tag or "default") / f"seed{seed}"
        data = None
        if args.dataset != "demo":
            data = draw_seed_data(folder, args.train_size, seed, seed_dir / "data", simulation)
            if args.test_limit:
                data = replace(data, test=test_subset(data.test, args.test_limit, seed_dir))
            if data.pool is not None and args.pool_noise > 0:
                data = replace(data, pool=noisy_pool(data.pool, args.pool_noise, seed))
        for name in args.arms:
            arm = ARMS[name]
            if data is None:
                config = demo_config(args, seed, arm)
            else:
                config = dataset_config(args, seed, arm, data.train, data.test, data.pool)
            run_dir = seed_dir / name
            started = time.perf_counter()
            run(config, run_dir, overwrite=True, progress=progress, entry_points_enabled=False)
            row = {
                "dataset": args.dataset,
                "tag": args.tag,
                "pool_noise": args.pool_noise,
                "teacher": "SIMULATION pool" if simulation else args.teacher,
                "teacher_options": args.teacher_option,
                "seed": seed,
                "arm": name,
                **run_facts(run_dir),
                "wall_seconds": round(time.perf_counter() - started, 1),
                "load": round(os.getloadavg()[0], 1),
                "command": args.command,
            }
            with open(results, "a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
            rows.append(row)
            print(
                f"{args.dataset} seed={seed} {name:16s} dup/step {row['duplicates_per_step']:.1f} "
                f"accepted {row['accepted']}/{row['generated']} test {row['model_0_test']:.4f} "
                f"-> {row['best_test']:.4f} ({row['wall_seconds']:.0f} s)",
                flush=True,
            )
    return rows


def paired(rows: Sequence[dict[str, Any]], arm: str, reference: str, key: str) -> str:
    """``arm - reference`` on ``key``, paired by seed: mean ± standard error (points)."""
    by_seed = {r["seed"]: r for r in rows if r["arm"] == reference}
    diffs = [
        100 * (r[key] - by_seed[r["seed"]][key])
        for r in rows
        if r["arm"] == arm and r["seed"] in by_seed
    ]
    if not diffs:
        return "–"
    mean = statistics.fmean(diffs)
    if len(diffs) == 1:
        return f"{mean:+.2f} (1 seed)"
    se = statistics.stdev(diffs) / math.sqrt(len(diffs))
    ahead = sum(d > 0 for d in diffs)
    return f"{mean:+.2f} ± {se:.2f} ({ahead}/{len(diffs)} ahead)"


def table(rows: Sequence[dict[str, Any]], reference: str) -> str:
    body = []
    arms = [a for a in ARMS if any(r["arm"] == a for r in rows)]
    for name in arms:
        mine = [r for r in rows if r["arm"] == name]
        generated = sum(r["generated"] for r in mine)
        accepted = sum(r["accepted"] for r in mine)
        reasons: dict[str, int] = {}
        for r in mine:
            for reason, count in r["rejected_by_reason"].items():
                reasons[reason] = reasons.get(reason, 0) + count
        top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        body.append(
            [
                f"{name}: {ARMS[name].description}",
                len(mine),
                f"{statistics.fmean(r['duplicates_per_step'] for r in mine):.2f}",
                f"{accepted / generated:.2f}" if generated else "–",
                top or "none",
                f"{100 * statistics.fmean(r['model_0_test'] for r in mine):.1f}",
                f"{100 * statistics.fmean(r['best_test'] for r in mine):.1f}",
                _vs_model_0(mine),
                "" if name == reference else paired(rows, name, reference, "best_test"),
                f"{100 * statistics.fmean(r['last_test'] for r in mine):.1f}",
                "" if name == reference else paired(rows, name, reference, "last_test"),
                f"{sum(r['calls'] for r in mine) / len(mine):.1f}",
            ]
        )
    header = [
        "arm", "seeds", "duplicates rejected / step", "accepted share",
        "rejected by reason (all seeds)", "model_0 test acc", "best test acc",
        "best − model_0 (pts)", f"best − {reference} (pts, paired)",
        "last step's student test acc", f"last − {reference} (pts, paired)", "teacher calls / run",
    ]  # fmt: skip
    return markdown_table(header, body)


def _vs_model_0(rows: Sequence[dict[str, Any]]) -> str:
    diffs = [100 * (r["best_test"] - r["model_0_test"]) for r in rows]
    if len(diffs) == 1:
        return f"{diffs[0]:+.2f}"
    se = statistics.stdev(diffs) / math.sqrt(len(diffs))
    return f"{statistics.fmean(diffs):+.2f} ± {se:.2f}"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="demo", help='"demo" or a shared data set name')
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["views", "no_views"])
    parser.add_argument("--reference", help="the arm the others are paired against (first arm)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--teacher", default="pool", help='"pool" (SIMULATION) or provider:model')
    parser.add_argument("--teacher-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the config's default")
    parser.add_argument("--backbone", help="[student] backbone: a local model folder")
    parser.add_argument("--test-limit", type=int, default=0, help="score on this many test rows")
    parser.add_argument(
        "--pool-noise", type=float, default=0.0, help="share of SIMULATION pool rows mislabelled"
    )
    parser.add_argument("--tag", default="", help="a name for this group of runs")
    parser.add_argument("--title", default="", help="the RESULTS.md section title")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "arms")
    parser.add_argument("--results", type=Path, help="write the table into this RESULTS.md")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--render-only", action="store_true", help="the table from OUT/results.jsonl (tag, arms)"
    )
    parser.add_argument(
        "--clean-tag", default="", help="runs without noise (reference arm) to measure recovery"
    )
    args = parser.parse_args(argv)
    args.reference = args.reference or args.arms[0]
    args.command = command_line("arms.py", argv)
    return args


def saved_rows(args: argparse.Namespace, tag: str, arms: Sequence[str]) -> list[dict[str, Any]]:
    """The latest saved row of each (seed, arm) of ``tag`` for this data set."""
    path = args.out / "results.jsonl"
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            same = row["dataset"] == args.dataset and row["tag"] == tag
            if same and row["arm"] in arms and row["seed"] in args.seeds:
                latest[row["seed"], row["arm"]] = row
    folder = Path(args.dataset).name
    for (seed, arm), row in latest.items():
        run_dir = args.out / folder / (tag or "default") / f"seed{seed}" / arm
        if (run_dir / "summary.json").exists():
            row.update(run_facts(run_dir))
    return [latest[key] for key in sorted(latest)]


def recovered(rows: Sequence[dict[str, Any]], clean: Sequence[dict[str, Any]], ref: str) -> str:
    """How much of the noise's cost each arm wins back, paired by seed: ``(arm - ref) /
    (clean - ref)`` on best test accuracy, with the cost itself (clean - ref, points)."""
    base = {r["seed"]: r["best_test"] for r in clean}
    noisy = {r["seed"]: r["best_test"] for r in rows if r["arm"] == ref}
    seeds = sorted(set(base) & set(noisy))
    if not seeds:
        return ""
    cost = statistics.fmean(100 * (base[s] - noisy[s]) for s in seeds)
    lines = [f"Noise cost (clean − {ref}, best test accuracy, paired): {cost:+.2f} points."]
    for arm in dict.fromkeys(r["arm"] for r in rows):
        if arm == ref:
            continue
        mine = {r["seed"]: r["best_test"] for r in rows if r["arm"] == arm}
        won = [100 * (mine[s] - noisy[s]) for s in seeds if s in mine]
        if won and cost:
            share = statistics.fmean(won) / cost
            lines.append(f"{arm}: wins back {statistics.fmean(won):+.2f} points ({share:.0%}).")
    return " ".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = saved_rows(args, args.tag, args.arms) if args.render_only else run_arms(args)
    teacher = "SIMULATION teacher" if args.teacher == "pool" else f"teacher {args.teacher}"
    title = args.title or f"Arms: {args.dataset}, {teacher}, {' / '.join(args.arms)}"
    options = ", ".join(args.teacher_option) or "none"
    body = (
        f"`{args.command}`\n\n{machine_line()}\n\n{table(rows, args.reference)}\n\n"
        f"{teacher} (options: {options}; pool labels flipped: {args.pool_noise:g}); "
        f"seeds {', '.join(map(str, args.seeds))}; "
        f"{args.steps} KD steps, patience {args.patience}; frozen MiniLM-L6 student; "
        f"{f'a stratified {args.test_limit}-row draw of' if args.test_limit else 'the full'} "
        "test split. "
        "Test accuracy in points; paired differences are mean ± standard error over seeds."
    )
    if args.clean_tag:
        body += "\n\n" + recovered(
            rows, saved_rows(args, args.clean_tag, [args.reference]), args.reference
        )
    print(f"\n## {title}\n\n{body}")
    if args.results:
        write_section(title, body, args.results)
    return rows


if __name__ == "__main__":
    main()
