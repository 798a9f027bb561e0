"""Student versus LLM: latency, throughput and cost on this CPU (the paper's Table 5).

One distilled transformer student (``--model DIR``, a run's ``best/`` or any saved transformer
student; without it one is fine-tuned briefly on ``--train-size`` rows of the data set and kept
in ``OUT/student``) is run on the same texts along several paths, all in this process:

    pipeline fp32      ``transformers.pipeline("text-classification")``, batch 64, truncation at
                       the student's max length: the baseline a user gets by default
    pgkd fp32          ``pgkd.serving.inference.load_predictor``: dynamic padding and length
                       bucketing
    pgkd bf16          the same under bf16 autocast
    pgkd int8          the same with torch dynamic int8 quantization (``quantize="int8"``)
    onnx fp32 / int8   ``pgkd.serving.export.export_model`` then onnxruntime
                       (``load_predictor`` on it)

For each: the median latency of one batch of the first 64 test texts, throughput over the whole
test split, accuracy on it and the change against the pipeline baseline, and agreement with the
baseline's labels. The paths take turns (batch rounds round-robin, the full pass 1,024 texts
at a time), so a change in machine load hits them alike.
Then the local LLM (``--llm local:smollm2``) labels the same 64 texts zero-shot, and the
student-vs-LLM speed ratio is reported, with the tokens those calls used and what they would
cost at two hosted models' list prices (``pgkd.fill.pricing``).

    .venv/bin/python benchmarks/inference_speed.py --dataset ag_news \\
        --out runs/bench/inference --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import command_line, machine_line, markdown_table, write_section  # noqa: E402
from pgkd.teachers.base import Teacher, TeacherReply, TeacherRequest  # noqa: E402
from pgkd.testing import shared_datasets  # noqa: E402

DATASETS = shared_datasets()
BATCH = 64
#: Texts per interleaved chunk of the full pass (each path buckets by length within a chunk).
CHUNK = 1024
#: Hosted models whose list prices turn the LLM's token counts into money.
PRICED_MODELS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku"))

Classify = Callable[[Sequence[str]], list[str]]


@dataclass
class PathResult:
    name: str
    batch_seconds: list[float] = field(default_factory=list)
    full_seconds: float = 0.0
    predicted: list[str] = field(default_factory=list)


def read_jsonl(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def train_student(args: argparse.Namespace, dataset: Path) -> Path:
    """Fine-tune a transformer student on a stratified draw (reused when already saved)."""
    from pgkd.data import load_samples, stratified_sample, stratified_split
    from pgkd.students.base import StudentSettings
    from pgkd.students.transformer import TransformerStudent
    from pgkd.tasks.classification import ClassificationTask

    target = args.out / "student"
    if (target / "pgkd_student.json").is_file():
        return target
    task = ClassificationTask()
    rows = load_samples(dataset / "train.jsonl.gz", task)
    drawn, _ = stratified_sample(rows, args.train_size, task, 0)
    train, validation = stratified_split(drawn, 0.2, task, 0)
    settings = StudentSettings(
        kind="transformer",
        backbone=args.backbone,
        max_length=args.max_length,
        batch_size=32,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        patience=2,
        options={"bf16": True},
    )
    student = TransformerStudent(settings, task.labels_of(drawn), 0)
    started = time.perf_counter()
    report = student.fit(train, validation)
    print(
        f"fine-tuned on {len(train)} rows, {report.epochs_run} epochs (bf16, max length "
        f"{args.max_length}) in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    student.save(target)
    return target


def pipeline_path(model: Path, max_length: int) -> Classify:
    from transformers import pipeline

    from pgkd.students.backbone import quiet_transformers

    with quiet_transformers():
        classifier = pipeline("text-classification", model=str(model), device=-1)

    def classify(texts: Sequence[str]) -> list[str]:
        out = classifier(list(texts), batch_size=BATCH, truncation=True, max_length=max_length)
        return [str(r["label"]) for r in out]

    return classify


def predictor_path(predictor: Any) -> Classify:
    labels = list(predictor.labels)

    def classify(texts: Sequence[str]) -> list[str]:
        return [labels[i] for i in predictor.predict_proba(list(texts)).argmax(axis=1)]

    return classify


def student_paths(model: Path, out: Path, onnx: bool) -> dict[str, Classify]:
    """Every path to measure, by name; the pipeline baseline first."""
    from pgkd.serving.inference import load_predictor
    from pgkd.students.loading import read_marker

    max_length = int(read_marker(model).get("max_length", 128))
    paths = {"pipeline fp32 (baseline)": pipeline_path(model, max_length)}
    for name, quantize, bf16 in (
        ("fp32", None, False),
        ("bf16", None, True),
        ("int8", "int8", False),
    ):
        predictor = load_predictor(model, quantize=quantize, batch_size=BATCH)
        student = predictor.student  # type: ignore[attr-defined]
        options = {**student.settings.options, "bf16": bf16}
        student.settings = replace(student.settings, options=options)
        paths[f"pgkd {name} (bucketed)"] = predictor_path(predictor)
    if onnx:
        from pgkd.serving.export import export_model

        for quantize in (None, "int8"):
            folder = out / f"onnx-{quantize or 'fp32'}"
            if not (folder / "pgkd_onnx.json").is_file():
                export_model(model, folder, quantize=quantize)
            predictor = load_predictor(folder, batch_size=BATCH)
            paths[f"onnx {quantize or 'fp32'} (bucketed)"] = predictor_path(predictor)
    return paths


def measure_students(
    paths: dict[str, Classify], texts: Sequence[str], batch: Sequence[str], repeats: int
) -> list[PathResult]:
    """Batch latency (``repeats`` rounds) and a pass over ``texts``; both interleave the paths
    (the full pass chunk by chunk), so a change in machine load hits every path alike."""
    results = {name: PathResult(name) for name in paths}
    for classify in paths.values():
        classify(batch)  # warm-up: first-call allocations, lazy imports
    for _ in range(repeats):
        for name, classify in paths.items():
            started = time.perf_counter()
            classify(batch)
            results[name].batch_seconds.append(time.perf_counter() - started)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        for name, classify in paths.items():
            started = time.perf_counter()
            results[name].predicted += classify(chunk)
            results[name].full_seconds += time.perf_counter() - started
        done = min(start + CHUNK, len(texts))
        print(f"{done}/{len(texts)} texts through every path", flush=True)
    return list(results.values())


class CountingTeacher(Teacher):
    """Passes calls through and sums the tokens every reply reports."""

    def __init__(self, inner: Teacher) -> None:
        super().__init__(inner.settings)
        self.inner = inner
        self.input_tokens = self.output_tokens = self.calls = 0

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        reply = await self.inner.complete(request)
        self.calls += 1
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class LlmResult:
    model: str
    seconds: float
    predicted: list[str]
    input_tokens: int
    output_tokens: int


def measure_llm(
    model: str, batch: Sequence[str], warm_text: str, labels: Sequence[str], threads: int
) -> LlmResult:
    """The LLM labels ``batch`` zero-shot, one call per text, after a warm-up call (load)."""
    from benchmarks.zero_shot import make_teacher
    from pgkd.commands.zeroshot import zero_shot_classify

    options = {"n_threads": threads, "n_ctx": 4096} if model.startswith("local:") else {}
    teacher = CountingTeacher(make_teacher(model, None, options))

    async def go() -> tuple[list[str], float]:
        try:
            await zero_shot_classify(teacher, [warm_text], labels, concurrency=1)
            teacher.input_tokens = teacher.output_tokens = 0
            started = time.perf_counter()
            predicted = await zero_shot_classify(teacher, batch, labels, concurrency=1)
            return predicted, time.perf_counter() - started
        finally:
            await teacher.aclose()

    predicted, seconds = asyncio.run(go())
    return LlmResult(model, seconds, predicted, teacher.input_tokens, teacher.output_tokens)


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    return float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))


def hosted_cost(llm: LlmResult, n: int) -> str:
    from pgkd.fill.pricing import price_for
    from pgkd.teachers.base import TeacherSettings

    parts = []
    for provider, model in PRICED_MODELS:
        price = price_for(TeacherSettings(provider=provider, model=model))
        if price is not None:
            per_million = price.cost(llm.input_tokens, llm.output_tokens) / n * 1e6
            parts.append(f"{provider}:{model} ${per_million:,.0f}")
    return ", ".join(parts)


def report(
    results: Sequence[PathResult],
    gold: Sequence[str],
    batch_gold: Sequence[str],
    llm: LlmResult | None,
) -> str:
    base = results[0]
    base_rate = len(gold) / base.full_seconds
    header = ["path", "batch-64 latency ms", "batch-64 texts/s", "full split texts/s"]
    header += ["× baseline", "accuracy", "Δ acc (pt)", "agrees with baseline"]
    rows = []
    for r in results:
        latency = statistics.median(r.batch_seconds)
        rate = len(gold) / r.full_seconds
        acc = accuracy(r.predicted, gold)
        delta = 100 * (acc - accuracy(base.predicted, gold))
        agree = 100 * accuracy(r.predicted, base.predicted)
        rows.append(
            [r.name, f"{1000 * latency:.0f}", f"{BATCH / latency:.0f}", f"{rate:.0f}",
             f"{rate / base_rate:.2f}", f"{100 * acc:.2f}", f"{delta:+.2f}", f"{agree:.1f}%"]
        )  # fmt: skip
    lines = [markdown_table(header, rows), "", target_verdict(results, gold)]
    if llm is not None:
        lines += ["", llm_table(llm, batch_gold), "", speed_ratio(results, llm, len(batch_gold))]
    return "\n".join(lines)


def target_verdict(results: Sequence[PathResult], gold: Sequence[str]) -> str:
    """Which paths reach >= 3x the baseline's full-split throughput within 0.5 pt accuracy."""
    base = results[0]
    base_acc = accuracy(base.predicted, gold)
    met = [
        r.name
        for r in results[1:]
        if base.full_seconds / r.full_seconds >= 3
        and 100 * (base_acc - accuracy(r.predicted, gold)) <= 0.5
    ]
    verdict = ", ".join(met) if met else "no path"
    return f"Target (>= 3x the baseline's throughput, <= 0.5 pt accuracy loss): met by {verdict}."


def llm_table(llm: LlmResult, gold: Sequence[str]) -> str:
    n = len(gold)
    header = ["LLM zero-shot", f"{n} texts s", "texts/s", f"accuracy on the {n}"]
    header += ["tokens in / out per text"]
    row = [llm.model, f"{llm.seconds:.1f}", f"{n / llm.seconds:.2f}"]
    row += [f"{100 * accuracy(llm.predicted, gold):.1f}"]
    row += [f"{llm.input_tokens / n:.0f} / {llm.output_tokens / n:.1f}"]
    return markdown_table(header, [row])


def speed_ratio(results: Sequence[PathResult], llm: LlmResult, n: int) -> str:
    """The student-vs-LLM ratios: batch latency and throughput, plus what each costs."""
    base = results[0]
    fastest = min(results, key=lambda r: statistics.median(r.batch_seconds))
    student = statistics.median(fastest.batch_seconds)
    best = min(results, key=lambda r: r.full_seconds)
    best_rate = len(best.predicted) / best.full_seconds
    vcpu_hours = 1e6 / best_rate * (os.cpu_count() or 1) / 3600
    return (
        f"Student vs LLM on the same {n} texts: the fastest student path on the batch "
        f"({fastest.name}, {1000 * student:.0f} ms) is **{llm.seconds / student:,.0f}x** faster "
        f"than {llm.model} ({llm.seconds:.1f} s); the pipeline baseline is "
        f"{llm.seconds / statistics.median(base.batch_seconds):,.0f}x faster. In throughput, "
        f"{best.name} ({best_rate:.0f} texts/s over the split) is "
        f"**{best_rate / (n / llm.seconds):,.0f}x** the LLM's {n / llm.seconds:.2f} texts/s. "
        f"Cost: the student needs {vcpu_hours:.1f} vCPU-hours per million texts on this "
        f"machine; the LLM's prompts ({llm.input_tokens / n:.0f} tokens in, "
        f"{llm.output_tokens / n:.1f} out per text) would cost per million texts at hosted list "
        f"prices: {hosted_cost(llm, n)}."
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ag_news", help="name or folder")
    parser.add_argument("--model", type=Path, help="a saved transformer student (else trained)")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--backbone", help="backbone folder for the trained student")
    parser.add_argument("--test-limit", type=int, help="score only the first N test rows")
    parser.add_argument("--repeats", type=int, default=7, help="timed batch-64 rounds")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    parser.add_argument("--llm", default="local:smollm2", help='"none" to skip the LLM')
    parser.add_argument("--threads", type=int, default=2, help="n_threads of a local LLM")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "inference")
    parser.add_argument("--results", type=Path, help="write the tables into this RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = Path(args.dataset) if Path(args.dataset).is_dir() else DATASETS / args.dataset
    test = read_jsonl(dataset / "test.jsonl.gz")[: args.test_limit]
    texts, gold = [r["text"] for r in test], [r["label"] for r in test]
    model = args.model or train_student(args, dataset)
    paths = student_paths(model, args.out, args.onnx)
    batch = texts[:BATCH]
    results = measure_students(paths, texts, batch, args.repeats)
    llm = None
    if args.llm != "none":
        labels = json.loads((dataset / "labels.json").read_text())
        llm = measure_llm(args.llm, batch, texts[-1], labels, args.threads)
    body = "\n\n".join(
        [
            f"`{command_line('inference_speed.py', argv)}`",
            f"{machine_line()}; student `{model}` ({describe(model)}), {len(texts)} "
            f"{dataset.name} test texts, torch threads {_torch_threads()}.",
            report(results, gold, gold[:BATCH], llm),
        ]
    )
    print(body)
    if args.results:
        write_section(f"Student vs LLM: speed and cost ({dataset.name})", body, args.results)
    return body


def describe(model: Path) -> str:
    """``"bert, 6 layers × 384, max length 128"`` from the saved config and marker."""
    config = json.loads((model / "config.json").read_text())
    marker = json.loads((model / "pgkd_student.json").read_text())
    return (
        f"{config.get('model_type')}, {config.get('num_hidden_layers')} layers × "
        f"{config.get('hidden_size')}, max length {marker.get('max_length')}"
    )


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    main()
