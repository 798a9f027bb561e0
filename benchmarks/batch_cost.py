"""What a run costs through a provider's batch API next to the same run online.

The same config (the bundled support tickets, frozen student, ``--steps`` KD steps of 32
samples, 8 per call) runs twice per provider against the loopback server
(``tests/teachers/loopback.py``, in this process, a fresh one per run so that both runs get
the same answers and send the same requests): once online, once with
``[teacher] batch = true`` (each step one job, ended after two polls). The client is the real
stack: the ``openai`` / ``anthropic`` SDK, the pool, the journal and the cache. Costs are the
run's own accounting at the models' list prices from ``genai-prices`` (gpt-4o-mini has batch
prices in that table; claude-3-5-haiku has none there, so the provider's 50% applies).

The loopback server is not an LLM: its answers are made up and it counts a request's tokens as
its characters / 4, so the token counts are the size of the requests pgkd sends, not a model's.

    python benchmarks/batch_cost.py
    python benchmarks/batch_cost.py --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pgkd.config import config_from_mapping  # noqa: E402
from pgkd.progress import Progress  # noqa: E402
from pgkd.runner import run  # noqa: E402
from tests.teachers.loopback import LoopbackServer  # noqa: E402

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-20241022"}
TICKETS = ROOT / "examples" / "support_tickets"


def one_run(provider: str, url: str, batch: bool, steps: int, out: Path) -> dict[str, Any]:
    config = config_from_mapping(
        {
            "data": {"train": str(TICKETS / "train.jsonl"), "test": str(TICKETS / "test.jsonl")},
            "teacher": {
                "model": f"{provider}:{MODELS[provider]}",
                "base_url": url + "/v1" if provider == "openai" else url,
                "samples_per_call": 8,
                # One call at a time online, so the calls get the server's answers in the
                # order a job gets them: both runs then send the same requests.
                "concurrency": 1,
                "batch": batch,
                "batch_poll_seconds": 0.05,
            },
            "student": {"max_length": 64},
            "kd": {"steps": steps, "patience": steps, "batch_size": 32},
        }
    )
    summary = run(
        config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False
    )
    teacher: dict[str, Any] = summary["teacher"]
    return teacher


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--results", type=Path, help="append the table to this markdown file")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENAI_API_KEY", "sk-loopback")
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-loopback")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for provider in MODELS:
            # A fresh server per run: both runs see the same answers, so send the same requests.
            with LoopbackServer() as server:
                online = one_run(provider, server.url, False, args.steps, Path(tmp) / provider)
            with LoopbackServer(batch_polls=2) as server:
                batch = one_run(provider, server.url, True, args.steps, Path(tmp) / f"{provider}-b")
                jobs = len(server.batches.created())
            for mode, teacher in (("online", online), ("batch", batch)):
                ratio = teacher["cost_usd"] / online["cost_usd"] if online["cost_usd"] else 0.0
                rows.append(
                    f"| {provider}:{MODELS[provider]} | {mode} | {teacher['calls']} | "
                    f"{jobs if mode == 'batch' else '-'} | {teacher['input_tokens']:,} | "
                    f"{teacher['output_tokens']:,} | ${teacher['cost_usd']:.6f} | "
                    f"**{ratio:.3f}** |"
                )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    table = "\n".join(
        [
            "## Batch mode: cost of the same run online and through the batch API",
            "",
            f"`python benchmarks/batch_cost.py --steps {args.steps} --results "
            f"benchmarks/RESULTS.md` ({stamp}; loopback server, not an LLM: tokens are request "
            "and answer characters / 4; list prices from genai-prices)",
            "",
            "| teacher | mode | calls | jobs | input tokens | output tokens | cost | vs online |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Target: a batch-mode run costs <= 55% of the same run online "
            "(`tests/teachers/test_batch_runs.py` asserts it).",
            "",
        ]
    )
    print(table)
    if args.results is not None:
        with args.results.open("a", encoding="utf-8") as fh:
            fh.write("\n" + table)


if __name__ == "__main__":
    main()
