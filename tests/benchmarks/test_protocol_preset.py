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


def test_the_shipped_arm_is_what_the_default_preset_ships(tmp_path: Path) -> None:
    """The arm the README's default numbers come from runs what ``preset = "default"`` ships,
    and ``unguided`` is plain generation: no acceptance filter, whatever the default turns on."""
    from pgkd.builtin.disagreement import DisagreementOptions
    from pgkd.builtin.verification import VerificationOptions
    from pgkd.builtin.views import ViewOptions
    from pgkd.config import Config, config_from_mapping

    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "a b", "label": "x"}\n', encoding="utf-8")
    args = protocol.parse(["--dataset", "ag_news"])
    data = protocol.SeedData(train, train, train, 1, 1, 0, 0)

    def arm(name: str) -> Config:
        return protocol.build_config(args, data, 0, protocol.VARIANTS[name])

    def effective(config: Config) -> tuple[object, ...]:
        kinds = (DisagreementOptions, VerificationOptions, ViewOptions)
        return tuple(kind.from_settings(config) for kind in kinds)

    shipped = config_from_mapping({"data": {"train": str(train)}})
    assert effective(arm(protocol.SHIPPED)) == effective(shipped)
    assert not DisagreementOptions.from_settings(arm("unguided")).enabled
    assert not DisagreementOptions.from_settings(arm("pgkd")).enabled
    assert ViewOptions.from_settings(arm("pgkd_explore")).explore == 0.5
