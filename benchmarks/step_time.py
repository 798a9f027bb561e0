"""Where a KD step's time goes, from the ``seconds`` the loop writes to ``metrics.jsonl``.

Every step line carries wall seconds per phase (``pgkd/loop.py::Loop._step``):

    prepare     on_eval + select_examples + build_prompt + the held-out check of the prompt
    teacher     the generate hook: waiting for the teacher to fill the batch
    validation  sample checks (validate_samples) and journaling the samples
    training    fitting the new student on the history
    evaluation  scoring it on validation (and test / loop-test when the run has them) and
                predicting the training history for the next step's example selection
    step        the whole step

Framework overhead = step − the sum of the parts: hook dispatch, the early-stopping verdict,
saving a new best student, bookkeeping. Target: under 2% of step time. Step 0 (model_0) has
no step line and is not counted.

Reads every ``metrics.jsonl`` under the given folders (the ``--out`` of ``protocol.py``) and
groups runs by data set and variant (the protocol's ``<dataset>/n<size>/seed<k>/<variant>``
layout).

    .venv/bin/python benchmarks/step_time.py runs/bench/protocol --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import command_line, machine_line, markdown_table, write_section  # noqa: E402

PARTS = ("teacher", "prepare", "validation", "training", "evaluation")
#: Finer timings shown when the loop records them: parts of ``prepare``, and ``fill``, the
#: teacher pool's own time inside ``teacher`` (from the line's ``generation.seconds``).
DETAIL = ("report", "selection", "prompt", "fill")


def step_lines(run_dir: Path) -> list[dict[str, float]]:
    """The ``seconds`` of each KD step of one run (the last line of a step re-run on resume)."""
    by_step: dict[int, dict[str, float]] = {}
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("step", 0) >= 1 and "seconds" in record:
                seconds = dict(record["seconds"])
                seconds["fill"] = float((record.get("generation") or {}).get("seconds", 0.0))
                by_step[int(record["step"])] = seconds
    return [by_step[s] for s in sorted(by_step)]


def group_of(run_dir: Path, root: Path) -> str:
    parts = run_dir.relative_to(root).parts
    if len(parts) >= 4:  # <dataset>/n<size>[-tag]/seed<k>/<variant>
        return f"{parts[0]} {parts[1].removeprefix('n')}"
    return str(run_dir.relative_to(root)) or run_dir.name


def student_kind(run_dir: Path) -> str:
    import tomllib

    config = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    return str(config.get("student", {}).get("kind", "?"))


def collect(roots: Sequence[Path]) -> dict[tuple[str, str], list[dict[str, float]]]:
    groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for root in roots:
        for metrics in sorted(root.rglob("metrics.jsonl")):
            run_dir = metrics.parent
            groups[(group_of(run_dir, root), student_kind(run_dir))].extend(step_lines(run_dir))
    return groups


def overhead(seconds: dict[str, float]) -> float:
    return seconds["step"] - sum(seconds.get(part, 0.0) for part in PARTS)


def share(steps: Sequence[dict[str, float]], part: str) -> float:
    """``part``'s share of the summed step time, in percent."""
    return 100 * sum(s.get(part, 0.0) for s in steps) / sum(s["step"] for s in steps)


def summary_row(
    name: str, student: str, steps: Sequence[dict[str, float]], detail: Sequence[str]
) -> list[str]:
    total = sum(s["step"] for s in steps)
    per_step = [100 * overhead(s) / s["step"] for s in steps if s["step"] > 0]
    return [
        name,
        student,
        str(len(steps)),
        f"{total / len(steps):.2f}",
        *(f"{share(steps, part):.1f}" for part in (*PARTS, *detail)),
        f"**{100 * sum(overhead(s) for s in steps) / total:.2f}**",
        f"{statistics.median(per_step):.2f} / {max(per_step):.2f}",
        f"{1000 * statistics.fmean(overhead(s) for s in steps):.1f}",
    ]


def table(groups: dict[tuple[str, str], list[dict[str, float]]]) -> str:
    all_steps = [s for steps in groups.values() for s in steps]
    detail = [part for part in DETAIL if any(part in s for s in all_steps)]
    header = ["runs (data set, size)", "student", "steps", "s / step"]
    header += [f"{part} %" for part in PARTS]
    header += [f"{part} % (in {'teacher' if part == 'fill' else 'prepare'})" for part in detail]
    header += ["overhead %", "overhead % per step (median / max)", "overhead ms / step"]
    rows = [
        summary_row(name, kind, steps, detail) for (name, kind), steps in groups.items() if steps
    ]
    if len(rows) > 1:
        rows.append(summary_row("**all**", "", all_steps, detail))
    return markdown_table(header, rows)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", type=Path, nargs="+", help="folders holding run directories")
    parser.add_argument("--results", type=Path, help="write the table into this RESULTS.md")
    parser.add_argument("--title", default="Where a step's time goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse(argv)
    groups = collect(args.roots)
    if not any(groups.values()):
        raise SystemExit(f"no KD step lines in any metrics.jsonl under {args.roots}")
    body = "\n\n".join(
        [
            f"`{command_line('step_time.py', argv)}`",
            f"{machine_line()} (when summarised; the runs' own dates are in their folders).",
            table(groups),
            "Shares of the summed step time. `evaluation` includes scoring the full test split "
            "every step, which only a benchmark does. Rows other than `-local` use the "
            "SIMULATION teacher, which answers in milliseconds: they show the framework at its "
            "most exposed. The `-local` row is the real in-process LLM (SmolLM2-135M): the "
            "teacher is then 99% of the step. `fill` is the teacher pool's own time, so "
            "teacher − fill is the generate hook's dispatch. A single step of about a second "
            "on this loaded machine can spike (garbage collection, the fsync of a new best "
            "checkpoint); the summed share is the figure to read.",
        ]
    )
    print(body)
    if args.results:
        write_section(args.title, body, args.results)
    return body


if __name__ == "__main__":
    main()
