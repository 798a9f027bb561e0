"""Re-states the paired comparisons already in ``benchmarks/RESULTS.md`` (written as the mean
± sample standard deviation of per-seed differences) as a mean ± standard error with a 95%
interval (Student's t over the seeds), so the old tables read like the new protocol's.

Nothing is re-run: SE = sd / sqrt(n) and the interval follow from the published mean, sd and
seed count (``ahead on k/n seeds``). A comparison whose interval holds zero is not evidence
either way.

    .venv/bin/python benchmarks/restate_paired.py --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import RESULTS, command_line, markdown_table, write_section  # noqa: E402

TITLE = "Earlier comparisons restated: paired mean ± standard error [95% interval]"
_PROTOCOL = re.compile(
    r"^(?P<name>\S+ − \S+) \(paired by seed\): accuracy (?P<acc>[-+]\d+\.\d+)(?: ± "
    r"(?P<acc_sd>\d+\.\d+))?, macro-F1 (?P<mf1>[-+]\d+\.\d+)(?: ± (?P<mf1_sd>\d+\.\d+))?; "
    r"\S+ ahead on \d+/(?P<n>\d+) seeds"
)
_BUDGET = re.compile(
    r"^- (?P<name>\S+ − \S+): best student accuracy (?P<acc>[-+]\d+\.\d+) ± (?P<acc_sd>\d+\.\d+)"
    r" \(ahead on \d+/(?P<n>\d+) seeds\), macro-F1 (?P<mf1>[-+]\d+\.\d+) ± (?P<mf1_sd>\d+\.\d+)"
)


def restated(mean: float, sd: str | None, n: int) -> str:
    if sd is None or n < 2:
        return f"{mean:+.2f} (one seed)"
    from scipy.stats import t

    se = float(sd) / n**0.5
    half = float(t.ppf(0.975, n - 1)) * se
    mark = "" if mean - half <= 0 <= mean + half else " *"
    return f"{mean:+.2f} ± {se:.2f} [{mean - half:+.2f}, {mean + half:+.2f}]{mark}"


def rows_of(text: str) -> list[list[str]]:
    rows: list[list[str]] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            if section == TITLE:
                break
        elif line.startswith("### "):
            section = section.split(" / ")[0] + " / " + line[4:].strip()
        match = _PROTOCOL.match(line) or _BUDGET.match(line)
        if match is None:
            continue
        n = int(match["n"])
        rows.append(
            [
                section,
                match["name"],
                str(n),
                restated(float(match["acc"]), match["acc_sd"], n),
                restated(float(match["mf1"]), match["mf1_sd"], n),
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=RESULTS, help="the RESULTS.md to read")
    parser.add_argument("--results", type=Path, help="write the section into this RESULTS.md")
    args = parser.parse_args(argv)
    header = ["section", "comparison", "seeds", "accuracy (points)", "macro-F1 (points)"]
    body = "\n\n".join(
        [
            f"`{command_line('restate_paired.py', argv)}`",
            markdown_table(header, rows_of(args.source.read_text(encoding="utf-8"))),
            "SIMULATION teacher (random rows, the writer before `imitate`) unless the section "
            "says otherwise. Re-stated from the published per-seed mean and standard deviation "
            "of each paired difference: standard error = sd / √n, interval = mean ± t(0.975, "
            "n − 1) × SE. `*`: the interval excludes zero. With 5 seeds t is 2.78, so an "
            "interval is about ±1.2 sd wide: almost none of these comparisons is resolved.",
        ]
    )
    print(f"## {TITLE}\n\n{body}")
    if args.results:
        write_section(TITLE, body, args.results)
    return body


if __name__ == "__main__":
    main()
