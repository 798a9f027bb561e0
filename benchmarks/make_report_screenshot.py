"""Make ``docs/report.png``, the README's picture of ``report.html``, from a real run.

The run: 400 labelled HuffPost headlines (41 classes) from the shared benchmark data, the
frozen MiniLM student, and the simulation teacher (``pool:``, ``uniform`` strategy) answering
with unseen real headlines, so no LLM is needed: 6 KD steps of 64 samples. Then
``pgkd report`` and a headless Chromium screenshot of the top of the page.

    .venv/bin/python benchmarks/make_report_screenshot.py            # ~3 minutes on 2 busy cores
    .venv/bin/python benchmarks/make_report_screenshot.py --reuse    # re-shoot the last run

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the shared data sets
(``$PGKD_DATASETS``, default ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from pgkd.config import config_from_mapping
from pgkd.progress import Progress
from pgkd.report import write_report
from pgkd.runner import run
from pgkd.testing import shared_datasets

ROOT = Path(__file__).parents[1]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def read_gz(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def prepare_data(dataset: Path, folder: Path, labelled: int, seed: int) -> None:
    """``labelled`` training rows, a 1,000-row test sample, the rest of train as the pool."""
    rng = random.Random(seed)
    train, test = read_gz(dataset / "train.jsonl.gz"), read_gz(dataset / "test.jsonl.gz")
    rng.shuffle(train)
    rng.shuffle(test)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", train[:labelled])
    write_jsonl(folder / "test.jsonl", test[:1000])
    write_jsonl(folder / "pool.jsonl", train[labelled:])


def make_run(args: argparse.Namespace) -> None:
    data = args.run_dir.with_name(f"{args.run_dir.name}-data")
    prepare_data(args.datasets / args.dataset, data, args.labelled, seed=0)
    config = config_from_mapping(
        {
            "data": {
                "train": str((data / "train.jsonl").resolve()),
                "test": str((data / "test.jsonl").resolve()),
            },
            "teacher": {
                "model": "pool:pool.jsonl",
                "samples_per_call": 8,
                "options": {"strategy": args.strategy},
            },
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": args.steps, "patience": args.steps, "batch_size": args.batch_size},
        }
    )
    cwd, out = Path.cwd(), args.run_dir.resolve()
    os.chdir(data)  # so the report shows "pool:pool.jsonl", not a long path
    try:
        run(config, out, overwrite=True, progress=Progress.auto(), entry_points_enabled=False)
    finally:
        os.chdir(cwd)


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                "chromium",
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    if done.returncode != 0 or not png.is_file():
        sys.exit(f"chromium failed ({done.returncode}): {done.stderr[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=shared_datasets())
    parser.add_argument("--dataset", default="huffpost")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "report-screenshot")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--labelled", type=int, default=400, help="training rows drawn")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per KD step")
    parser.add_argument("--strategy", default="uniform", help="simulation teacher strategy")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--size", default="1280x2000", help="browser window, WIDTHxHEIGHT")
    parser.add_argument("--reuse", action="store_true", help="re-shoot the existing run")
    args = parser.parse_args()
    if not (args.reuse and (args.run_dir / "metrics.jsonl").is_file()):
        make_run(args)
    page = write_report(args.run_dir)
    width, height = (int(n) for n in args.size.split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    screenshot(page, args.out, width, height)
    print(f"wrote {args.out} from {page}")


if __name__ == "__main__":
    main()
