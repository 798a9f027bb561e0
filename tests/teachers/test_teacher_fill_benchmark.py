"""The teacher-fill benchmark runs end to end at a tiny size (its server in another process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "teacher_fill.py"


def test_benchmark_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--smoke", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = json.loads(done.stdout)
    assert [(r["faults"], r["c"]) for r in rows] == [
        ("none", 1),
        ("none", 4),
        ("faults", 1),
        ("faults", 4),
    ]
    for row in rows:
        assert row["calls"] >= 8 and 0 < row["E"] <= 1.5
        assert row["cpu_ms_per_call"] > 0 and row["ideal_s"] > 0
