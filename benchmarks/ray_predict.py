"""Ray prediction against the single-process path: scaling efficiency and Ray's overhead.

A frozen student (the packaged MiniLM-L6 encoder, fp32, and a logistic-regression head fitted
on ``--train-rows`` rows of the data set; kept in ``OUT/student``) labels the first ``--rows``
texts of the test split along four paths, all started from this one process:

    local 1 thread     ``pgkd predict`` in this process, torch on 1 thread
    local 2 threads    the same on 2 threads: the single-process path using both cores
    ray 1 worker       ``pgkd predict --engine ray --workers 1`` (1 torch thread per worker)
    ray 2 workers      ``--workers 2``, 1 thread each

Every path reads the same JSONL file in blocks of ``--chunk-rows`` rows and writes JSONL, and
its time includes loading the student (Ray's: starting the worker actors too); the local Ray is
started once before the first round (its start-up time is reported apart). The paths take turns
for ``--rounds`` rounds so a change in machine load hits them alike; the median time per path
is reported, with the ratios the targets are about: ray 2 workers / ray 1 worker (scaling;
target >= 1.7x), ray 2 workers / local 2 threads (target >= 0.9x: Ray's overhead under 10%),
and ray 1 worker / local 1 thread (Ray's overhead at one core). Every Ray output is checked
against the local output, row for row.

    .venv/bin/python benchmarks/ray_predict.py --dataset ag_news --out runs/bench/ray \\
        --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import gzip
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import command_line, machine_line, markdown_table, write_section  # noqa: E402
from pgkd.testing import shared_datasets  # noqa: E402

TITLE = "Prediction on Ray: scaling and overhead (frozen student)"
PATHS = ("local 1 thread", "local 2 threads", "ray 1 worker", "ray 2 workers")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def build_student(dataset: Path, out: Path, train_rows: int) -> Path:
    """A frozen student on the packaged MiniLM, its head fitted on the first rows of train."""
    from pgkd.students.base import StudentSettings
    from pgkd.students.frozen import FrozenEncoderStudent
    from pgkd.types import Sample

    directory = out / "student"
    if (directory / "pgkd_student.json").is_file():
        return directory
    rows = read_jsonl(dataset / "train.jsonl.gz")[:train_rows]
    samples = [Sample(r["text"], r["label"]) for r in rows]
    labels = sorted({s.target for s in samples})
    student = FrozenEncoderStudent(StudentSettings(kind="frozen", threads=2), labels, 0)
    cut = int(len(samples) * 0.8)
    student.fit(samples[:cut], samples[cut:])
    student.save(directory)
    return directory


def run_local(student: Path, source: Path, out: Path, threads: int, chunk_rows: int) -> None:
    import torch

    from pgkd.serving.predict import PredictOptions, predict_file

    torch.set_num_threads(threads)
    predict_file(student, source, out, PredictOptions(chunk_rows=chunk_rows))


def run_ray(student: Path, source: Path, out: Path, workers: int, chunk_rows: int) -> None:
    from pgkd.serving.predict import PredictOptions
    from pgkd.serving.ray_predict import RayOptions, predict_with_ray

    shutil.rmtree(out, ignore_errors=True)
    options = PredictOptions(chunk_rows=chunk_rows)
    predict_with_ray(
        student, str(source), str(out), options, RayOptions(workers=workers, quiet=True)
    )


def same_rows(ray_out: Path, local_out: Path) -> bool:
    from pgkd.serving.ray_predict import local_rows

    ray_rows = sorted(local_rows(ray_out), key=lambda r: r["row"])
    local = read_jsonl(local_out)
    return [r["label"] for r in ray_rows] == [r["label"] for r in local] and all(
        abs(a["confidence"] - b["confidence"]) < 1e-5 for a, b in zip(ray_rows, local, strict=True)
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ag_news", help="name under the shared data sets")
    parser.add_argument("--rows", type=int, default=1024, help="test texts labelled per path")
    parser.add_argument("--train-rows", type=int, default=300)
    parser.add_argument("--chunk-rows", type=int, default=128, help="rows per block/chunk")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "ray")
    parser.add_argument("--results", type=Path, help="write the table into this RESULTS.md")
    args = parser.parse_args(argv)

    import ray

    dataset = shared_datasets() / args.dataset
    args.out.mkdir(parents=True, exist_ok=True)
    student = build_student(dataset, args.out, args.train_rows)
    texts = read_jsonl(dataset / "test.jsonl.gz")[: args.rows]
    source = args.out / "input.jsonl"
    source.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in texts), "utf-8")

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    seconds: dict[str, list[float]] = {name: [] for name in PATHS}
    agree = True
    try:
        for _ in range(args.rounds):
            runs: dict[str, Callable[[], None]] = {
                "local 1 thread": lambda: run_local(
                    student, source, args.out / "local1.jsonl", 1, args.chunk_rows
                ),
                "local 2 threads": lambda: run_local(
                    student, source, args.out / "local2.jsonl", 2, args.chunk_rows
                ),
                "ray 1 worker": lambda: run_ray(
                    student, source, args.out / "ray1.jsonl", 1, args.chunk_rows
                ),
                "ray 2 workers": lambda: run_ray(
                    student, source, args.out / "ray2.jsonl", 2, args.chunk_rows
                ),
            }
            for name, run in runs.items():
                began = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - began)
                print(f"{name}: {seconds[name][-1]:.1f} s", flush=True)
            for name in ("ray1", "ray2"):
                agree &= same_rows(args.out / f"{name}.jsonl", args.out / "local1.jsonl")
    finally:
        ray.shutdown()
    load_after = os.getloadavg()[0]

    median = {name: statistics.median(values) for name, values in seconds.items()}
    rate = {name: args.rows / median[name] for name in PATHS}
    ratios = {
        "ray 2 workers / ray 1 worker (scaling; target >= 1.7)": rate["ray 2 workers"]
        / rate["ray 1 worker"],
        "ray 2 workers / local 2 threads (target >= 0.9)": rate["ray 2 workers"]
        / rate["local 2 threads"],
        "ray 1 worker / local 1 thread (overhead at one core)": rate["ray 1 worker"]
        / rate["local 1 thread"],
        "local 2 threads / local 1 thread": rate["local 2 threads"] / rate["local 1 thread"],
    }
    result = {
        "rows": args.rows,
        "rounds": args.rounds,
        "seconds": seconds,
        "rows_per_second": rate,
        "ratios": ratios,
        "ray_start_seconds": ray_start,
        "ray_equals_local": agree,
        "load": [load_before, load_after],
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    table = markdown_table(
        ["path", "rows/s", "seconds per round"],
        [
            [name, f"{rate[name]:.1f}", ", ".join(f"{s:.1f}" for s in seconds[name])]
            for name in PATHS
        ],
    )
    ratio_table = markdown_table(
        ["ratio (throughput)", "measured"], [[k, f"{v:.2f}x"] for k, v in ratios.items()]
    )
    body = "\n\n".join(
        [
            f"`{command_line('ray_predict.py', argv)}`",
            machine_line(),
            table,
            ratio_table,
            f"{args.rows} {args.dataset} test texts, blocks of {args.chunk_rows} rows; frozen "
            "MiniLM-L6 student (fp32 encoder); median of "
            f"{args.rounds} interleaved round(s); times include loading the student (and "
            f"starting Ray's worker actors); the local Ray took {ray_start:.1f} s to start "
            "(not counted). Ray output equal to the local output row for row: "
            f"{'yes' if agree else 'NO'}. 1-min load average {load_before:.1f} before, "
            f"{load_after:.1f} after (the machine is shared).",
        ]
    )
    print(body)
    if args.results is not None:
        write_section(TITLE, body, args.results)
    return result


if __name__ == "__main__":
    main()
