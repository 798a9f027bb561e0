"""Shared by the benchmark scripts: mean ± std cells, Markdown tables, the machine line, and
writing one ``## ...`` section of ``benchmarks/RESULTS.md`` without touching the others."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``"84.6 ± 0.4"``: mean and sample standard deviation (n-1), times ``scale``."""
    if not values:
        return "–"
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def signed(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """Like :func:`mean_std` with an explicit sign: ``"+0.3 ± 0.5"``."""
    if not values:
        return "–"
    cell = mean_std(values, scale, digits)
    return cell if cell.startswith("-") else "+" + cell


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    """Date, CPU, cores and the load average when the line is written."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu}, {os.cpu_count()} vCPUs "
        f"(shared), Python {platform.python_version()}, load average {load}"
    )


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """The command that reproduces a table, relative to the repository root."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join([".venv/bin/python", f"benchmarks/{script}", *args])


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace the section headed ``## {title}`` (up to the next ``## ``), or append it. An
    exclusive lock on ``path`` keeps two benchmarks finishing at once from losing a section."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read() or "# Benchmark results\n"
        handle.seek(0)
        handle.truncate()
        handle.write(replace_section(text, title, body))


def replace_section(text: str, title: str, body: str) -> str:
    """``text`` with the section ``## {title}`` replaced by ``body`` (appended if missing)."""
    heading = f"## {title}"
    section = f"{heading}\n\n{body.strip()}\n"
    start = text.find(heading + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        rest = text[end + 1 :] if end != -1 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    return text


def paired_stats(diffs: Sequence[float]) -> tuple[float, float, float, float]:
    """Mean, standard error and 95% interval (Student's t over ``len(diffs) - 1`` degrees of
    freedom) of paired differences; SE and interval are NaN for fewer than two."""
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else float("nan")
    if n < 2:
        return mean, float("nan"), float("nan"), float("nan")
    from scipy.stats import t

    se = statistics.stdev(diffs) / n**0.5
    half = float(t.ppf(0.975, n - 1)) * se
    return mean, se, mean - half, mean + half


def paired_cell(diffs: Sequence[float], scale: float = 100.0, ahead: bool = True) -> str:
    """``"+0.41 ± 0.15 [+0.10, +0.72], 12/20 ahead"``: a paired difference in points, its
    standard error, its 95% interval and on how many pairs the first arm was ahead."""
    if not diffs:
        return "–"
    mean, se, low, high = (value * scale for value in paired_stats(diffs))
    cell = f"{mean:+.2f}"
    if len(diffs) > 1:
        cell += f" ± {se:.2f} [{low:+.2f}, {high:+.2f}]"
    if ahead:
        cell += f", {sum(d > 0 for d in diffs)}/{len(diffs)} ahead"
    return cell
