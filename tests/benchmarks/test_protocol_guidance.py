"""The guidance protocol of issue 13 at a tiny size: the new arms, the imitating SIMULATION
teacher at two noise levels, paired comparisons with standard errors and intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import protocol, tables

ARMS = ["unguided", "pgkd", "pgkd_budget", "guided_s0"]


@pytest.fixture(scope="module")
def guidance_run(
    yahoo: Path, tiny_backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("guidance")
    results = out / "RESULTS.md"
    argv = ["--dataset", str(yahoo), "--train-size", "100", "--seeds", "0", "1", "--steps", "2"]
    argv += ["--backbone", str(tiny_backbone), "--variants", *ARMS]
    argv += ["--writer", "imitate", "--label-noise", "0", "0.3"]
    argv += ["--out", str(out), "--results", str(results)]
    rows = protocol.main(argv)
    return {"out": out, "results": results, "rows": rows}


def test_every_arm_runs_at_each_noise_level_on_the_same_draw(
    guidance_run: dict[str, Any],
) -> None:
    rows = guidance_run["rows"]
    assert len(rows) == 2 * 2 * len(ARMS)
    for seed in (0, 1):
        firsts = {
            json.dumps(r["model_0"]["test"], sort_keys=True) for r in rows if r["seed"] == seed
        }
        assert len(firsts) == 1  # common random numbers: one model_0 for every arm of a seed
    for row in rows:
        assert row["writer"] == "imitate" and row["label_noise"] in (0.0, 0.3)
        assert [p["step"] for p in row["per_step"]][:2] == [0, 1]
        config = (Path(row["run_dir"]) / "config.toml").read_text()
        assert f"label_noise = {row['label_noise']}" in config
        assert ('writer = "random"' in config) == (row["variant"] == "unguided")
    moved = {r["variant"]: r["moved"] for r in rows if r["seed"] == 0 and r["label_noise"]}
    assert moved["unguided"] is None and moved["guided_s0"] == pytest.approx(0.0)
    assert moved["pgkd"] > 0


def test_label_noise_reaches_the_journal(guidance_run: dict[str, Any]) -> None:
    def mislabelled(row: dict[str, Any]) -> int:
        run_dir = Path(row["run_dir"])
        pool_file = run_dir.parent / "data" / "pool.jsonl"
        truth = {}
        for line in pool_file.read_text().splitlines():
            record = json.loads(line)
            truth[record["text"]] = record["label"]
        wrong = 0
        for line in (run_dir / "journal.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "sample":
                wrong += truth[event["record"]["text"]] != event["record"]["label"]
        return wrong

    rows = [r for r in guidance_run["rows"] if r["variant"] == "pgkd" and r["seed"] == 0]
    by_noise = {r["label_noise"]: mislabelled(r) for r in rows}
    assert by_noise[0.0] == 0 and by_noise[0.3] > 0


def test_tables_pair_every_arm_with_unguided(guidance_run: dict[str, Any]) -> None:
    text = guidance_run["results"].read_text()
    title = "## Protocol: yahoo_answers, 100 samples, frozen student, SIMULATION teacher"
    assert f"{title}, imitate writer\n" in text
    assert f"{title}, imitate writer, label noise 0.3\n" in text
    assert "- pgkd − unguided: accuracy " in text and "- pgkd − guided_s0: accuracy " in text
    assert " [" in text.split("- pgkd − unguided: accuracy ")[1].split("\n")[0]


def test_paired_stats_give_the_t_interval() -> None:
    mean, se, low, high = tables.paired_stats([0.01, 0.03, 0.02])
    assert mean == pytest.approx(0.02) and se == pytest.approx(0.01 / 3**0.5)
    assert high - mean == pytest.approx(4.302653 * se, rel=1e-5)  # t(0.975, 2 df)
    assert mean - low == pytest.approx(high - mean)
    assert tables.paired_cell([0.01, 0.03, 0.02]) == "+2.00 ± 0.58 [-0.48, +4.48], 3/3 ahead"
    assert tables.paired_cell([0.01]) == "+1.00, 1/1 ahead"


def test_published_comparisons_are_restated_with_standard_errors(tmp_path: Path) -> None:
    from benchmarks import restate_paired

    source = tmp_path / "RESULTS.md"
    source.write_text(
        "## Protocol: x\n\npgkd − uniform (paired by seed): accuracy -0.71 ± 0.70, macro-F1 "
        "-0.52 ± 0.62; pgkd ahead on 0/5 seeds.\n\n## Budget\n\n### huffpost\n\n- budget − "
        "guided: best student accuracy +0.98 ± 0.44 (ahead on 5/5 seeds), macro-F1 +1.13 ± "
        "0.40 (ahead on 5/5); @ step 7 accuracy -0.11 ± 0.57\n"
    )
    body = restate_paired.main(["--source", str(source), "--results", str(source)])
    assert "| Protocol: x | pgkd − uniform | 5 | -0.71 ± 0.31 [-1.58, +0.16] |" in body
    assert "| Budget / huffpost | budget − guided | 5 | +0.98 ± 0.20 [+0.43, +1.53] * |" in body
    # Re-running reads the old lines, not its own section: the same table.
    again = restate_paired.main(["--source", str(source)])
    assert again.split("\n\n")[1] == body.split("\n\n")[1]


def test_render_only_summarises_each_arm_against_unguided(
    guidance_run: dict[str, Any], tmp_path: Path
) -> None:
    results = tmp_path / "RESULTS.md"
    protocol.main(["--render-only", "--out", str(guidance_run["out"]), "--results", str(results)])
    text = results.read_text()
    title = "## Issue 13 protocol summary, 100 labelled rows: arms against unguided generation, "
    title += "accuracy"
    summary = text.split(title)[1].split("\n## ")[0]
    assert "Label noise 0:" in summary and "Label noise 0.3:" in summary
    assert "| arm − unguided | yahoo_answers | mean over data sets |" in summary
    assert "| pgkd | " in summary and "| pgkd − model_0 (best student) | " in summary
    # Two seeds: every cell has a standard error and an interval.
    assert summary.count(" [") >= 2 * 4
    # The old protocol's summary tables keep only the old writer's rows.
    assert "## Protocol summary: paper Table 2 layout" not in text
