"""The teacher-fill benchmark runs end to end at a tiny size (its server in another process)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
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


def _ideal_seconds() -> Callable[..., float]:
    spec = importlib.util.spec_from_file_location("teacher_fill", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ideal: Callable[..., float] = module.ideal_seconds
    return ideal


def test_ideal_packs_requests_in_whole_rounds_and_counts_retry_after_waits() -> None:
    ideal_seconds = _ideal_seconds()
    ok = [{"key": f"c{i}", "fault": "ok", "status": 200, "retry_after": None} for i in range(17)]
    # 17 requests of 0.2 s on 16 slots need two rounds, as in the fault-free ceil(N / k / c) * L.
    assert ideal_seconds(ok, 16, 0.2) == 0.4
    throttled = {"key": "c0", "fault": "429", "status": 429, "retry_after": 0.5}
    # c0 was told to wait 0.5 s before its retry: its chain (0.5 + 0.2) is the bound.
    assert ideal_seconds([throttled, *ok[:4]], 16, 0.2) == 0.7
