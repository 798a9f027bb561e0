"""The teacher zero-shot baseline (the paper's "Claude-3 zero-shot" rows), with any teacher.

The teacher labels test texts itself, one call per text, answer constrained to
``{"label": <one of the labels>}`` (``pgkd.commands.zeroshot.zero_shot_classify``); no student is
involved. Measures accuracy, macro-F1 and weighted-F1 on a seeded random subset of the test
split, answers that named no label (scored wrong), and wall seconds per text, model load
included in the first call and reported apart.

    .venv/bin/python benchmarks/zero_shot.py --dataset ag_news --n 200 \\
        --teacher local:smollm2 --results benchmarks/RESULTS.md

``--teacher`` is any ``provider:model`` pgkd knows (``openai:...`` with ``--base-url`` for an
OpenAI-compatible server); keys come from the environment as in a run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import asyncio
import gzip
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import command_line, machine_line, markdown_table, write_section  # noqa: E402
from pgkd.commands.zeroshot import NO_LABEL, zero_shot_classify  # noqa: E402
from pgkd.plugins import build_plugin_manager, build_registry  # noqa: E402
from pgkd.teachers.base import Teacher, TeacherSettings  # noqa: E402
from pgkd.testing import shared_datasets  # noqa: E402

DATASETS = shared_datasets()


@dataclass
class ZeroShotResult:
    dataset: str
    teacher: str
    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    no_label: int
    seconds_per_text: float
    first_call_seconds: float
    predicted: list[str]
    gold: list[str]


def read_jsonl(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def make_teacher(model: str, base_url: str | None, options: dict[str, Any]) -> Teacher:
    """A teacher from pgkd's registry, as ``[teacher] model = ...`` would build it."""
    provider, _, name = model.partition(":")
    registry = build_registry(build_plugin_manager(entry_points_enabled=False))
    factory = registry.teachers.get(provider)
    if factory is None:
        raise SystemExit(f"unknown teacher provider {provider!r}: use {sorted(registry.teachers)}")
    settings = TeacherSettings(provider=provider, model=name, base_url=base_url, options=options)
    teacher: Teacher = factory(settings)
    return teacher


def scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, float]:
    """Accuracy and F1 over the labels present in ``gold`` (a missing answer is just wrong)."""
    from sklearn.metrics import accuracy_score, f1_score

    present = sorted(set(gold))
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(
            f1_score(gold, predicted, labels=present, average="macro", zero_division=0)
        ),
        "weighted_f1": float(
            f1_score(gold, predicted, labels=present, average="weighted", zero_division=0)
        ),
    }


async def classify(
    teacher: Teacher, texts: Sequence[str], labels: Sequence[str], concurrency: int
) -> tuple[list[str], float, float]:
    """Labels, seconds of the first call (model load included) and seconds of the rest."""
    started = time.perf_counter()
    first = await zero_shot_classify(teacher, texts[:1], labels, concurrency=1)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rest = await zero_shot_classify(teacher, texts[1:], labels, concurrency=concurrency, seed=1)
    return first + rest, first_seconds, time.perf_counter() - started


def measure(
    dataset: Path,
    n: int,
    teacher_model: str,
    *,
    seed: int = 0,
    base_url: str | None = None,
    concurrency: int = 1,
    options: dict[str, Any] | None = None,
) -> ZeroShotResult:
    labels: list[str] = json.loads((dataset / "labels.json").read_text())
    test = read_jsonl(dataset / "test.jsonl.gz")
    subset = random.Random(seed).sample(test, min(n, len(test)))
    teacher = make_teacher(teacher_model, base_url, options or {})

    async def go() -> tuple[list[str], float, float]:
        try:
            return await classify(teacher, [r["text"] for r in subset], labels, concurrency)
        finally:
            await teacher.aclose()

    predicted, first, rest = asyncio.run(go())
    gold = [r["label"] for r in subset]
    return ZeroShotResult(
        dataset=dataset.name,
        teacher=teacher_model,
        n=len(subset),
        **scores(gold, predicted, labels),
        no_label=sum(p == NO_LABEL for p in predicted),
        seconds_per_text=rest / max(1, len(subset) - 1),
        first_call_seconds=first,
        predicted=predicted,
        gold=gold,
    )


def table(results: Sequence[ZeroShotResult]) -> str:
    header = ["data set", "teacher", "texts", "accuracy", "macro-F1", "weighted-F1"]
    header += ["no label", "s / text", "first call s"]
    rows = [
        [
            r.dataset, r.teacher, r.n, f"{100 * r.accuracy:.1f}", f"{100 * r.macro_f1:.1f}",
            f"{100 * r.weighted_f1:.1f}", r.no_label, f"{r.seconds_per_text:.2f}",
            f"{r.first_call_seconds:.1f}",
        ]
        for r in results
    ]  # fmt: skip
    return markdown_table(header, rows)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", nargs="+", default=["ag_news"], help="names or folders")
    parser.add_argument("--n", type=int, default=200, help="test texts per data set")
    parser.add_argument("--seed", type=int, default=0, help="seeds the test subset")
    parser.add_argument("--teacher", default="local:smollm2")
    parser.add_argument("--base-url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="n_threads of a local teacher")
    parser.add_argument("--results", type=Path, help="write the table into this RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[ZeroShotResult]:
    args = parse(argv)
    options: dict[str, Any] = {}
    if args.teacher.startswith("local:"):
        options = {"n_threads": args.threads, "n_ctx": 4096}
    results = []
    for name in args.dataset:
        folder = Path(name) if Path(name).is_dir() else DATASETS / name
        result = measure(
            folder, args.n, args.teacher, seed=args.seed, base_url=args.base_url,
            concurrency=args.concurrency, options=options,
        )  # fmt: skip
        results.append(result)
        print(table([result]), flush=True)
    body = "\n\n".join(
        [
            f"`{command_line('zero_shot.py', argv)}`",
            f"{machine_line()}.",
            table(results),
            f"A seeded random subset (seed {args.seed}) of each test split; one call per text, "
            "temperature 0, the answer constrained by a JSON schema to one of the labels. "
            "Seconds per text exclude the first call (model load); under a loaded machine the "
            "local model decodes several times slower than quiet.",
        ]
    )
    if args.results:
        write_section("Zero-shot teacher baseline", body, args.results)
    return results


if __name__ == "__main__":
    main()
