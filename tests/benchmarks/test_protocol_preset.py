"""The protocol's arm ``paper`` is ``[kd] preset = "paper"`` with the guided SIMULATION
teacher, as the arm ``pgkd`` has."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import protocol


def test_the_benchmark_arm_paper_is_the_preset(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    rows = [{"text": f"text {i}", "label": "ab"[i % 2]} for i in range(10)]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = protocol.parse(["--dataset", "ag_news"])
    pool = tmp_path / "pool.jsonl"
    pool.write_text(train.read_text(encoding="utf-8"), encoding="utf-8")
    data = protocol.SeedData(train, train, pool, 10, 10, 0, 0)
    config = protocol.build_config(args, data, 0, protocol.VARIANTS["paper"])
    assert config.kd.preset == "paper" and config.kd.train_predictions == "in_sample"
    assert config.teacher.model.startswith("simulation:")
    assert config.teacher.options["strategy"] == "guided"
    assert protocol.VARIANTS["paper"].description == "the paper's method (preset paper)"
