"""report.html from a run directory: self-contained, escaped, readable at hundreds of classes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pgkd.commands.cli import main
from pgkd.errors import RunDirError
from pgkd.report import confusion_record, load_run, render_report, write_report
from pgkd.types import ClassScore, Evaluation
from tests.report.fake_run import EVIL, write_run


def test_writes_one_self_contained_page(run_dir: Path) -> None:
    path = write_report(run_dir)

    html = path.read_text(encoding="utf-8")
    assert path == run_dir / "report.html"
    assert html.startswith("<!DOCTYPE html>")
    # Nothing to fetch: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "default-src &#x27;none&#x27;" in html  # the CSP forbids any fetch
    assert html.count("<svg") >= 5
    assert "preset paper" in html  # the report says which bundle of defaults the run used


def test_sample_text_prompts_and_labels_are_escaped(run_dir: Path) -> None:
    html = write_report(run_dir).read_text(encoding="utf-8")

    assert EVIL not in html
    assert "<script>alert" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;b&gt;not markup&lt;/b&gt;" in html  # the prompt text too


def test_marks_the_best_step_and_compares_per_class(run_dir: Path) -> None:
    run = load_run(run_dir)
    html = render_report(run)

    assert f"best: step {run.best_step}" in html
    assert html.count('<tr class="best">') == 1
    assert f"F1 best (step {run.best_step})" in html
    assert "Confusion matrix of the best student" in html  # 6 classes: the full matrix


def test_readable_at_335_classes(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "big", classes=335))
    html = render_report(run)

    table = html[
        html.index('id="class-table"') : html.index("</table>", html.index('id="class-table"'))
    ]
    assert table.count("<tr>") == 335 + 1  # every class, plus the header row
    assert "Top gains" in html and "Top losses" in html
    assert "Top confusions of the best student" in html  # not a 335 x 335 matrix
    assert len(html) < 2_000_000


def test_a_run_without_summary_confusion_or_prompts_still_renders(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "partial", confusion=False, finished=False)
    journal = run_dir / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps(e) + "\n" for e in events if e["event"] != "prompt"))

    html = write_report(run_dir).read_text(encoding="utf-8")

    assert "in progress or interrupted" in html
    assert "no <code>val_confusion</code>" in html
    assert "holds no prompt text" in html


def test_a_resumed_step_keeps_its_last_lines(run_dir: Path) -> None:
    metrics = run_dir / "metrics.jsonl"
    last = json.loads(metrics.read_text().splitlines()[-1])
    last["accepted"] = 99
    with metrics.open("a") as fh:
        fh.write(json.dumps(last) + "\n")
    with (run_dir / "journal.jsonl").open("a") as fh:
        record = {"text": "re-run sample", "label": "refund"}
        fh.write(
            json.dumps(
                {
                    "event": "sample",
                    "step": last["step"],
                    "index": 0,
                    "accepted": True,
                    "reasons": [],
                    "record": record,
                }
            )
            + "\n"
        )

    run = load_run(run_dir)

    assert run.steps[last["step"]]["accepted"] == 99
    assert [s.text for s in run.samples if s.step == last["step"]] == ["re-run sample"]


def test_reason_keys_come_from_the_rejection_fields_and_old_journals_still_read(
    run_dir: Path,
) -> None:
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    record = {"text": "a copy: of something", "label": "refund"}
    new = {"reason": "duplicate_of_history", "detail": "see: sample 3"}
    lines = [  # the fields alone, then a sample of a journal from before the fields
        {"rejections": [new]},
        {"reasons": ["too_short: 2 chars < 3"]},
    ]
    with (run_dir / "journal.jsonl").open("a") as fh:
        for index, fields in enumerate(lines):
            event = {"event": "sample", "step": last, "index": index, "accepted": False}
            fh.write(json.dumps({**event, **fields, "record": record}) + "\n")

    rejected = [s for s in load_run(run_dir).samples if s.text == record["text"]]

    assert [s.reason_keys for s in rejected] == [("duplicate_of_history",), ("too_short",)]
    assert rejected[1].reasons == ("too_short: 2 chars < 3",)


def test_confusion_record_is_sparse() -> None:
    score = ClassScore(1.0, 1.0, 1.0, 1)
    evaluation = Evaluation(
        loss=0.1,
        metrics={},
        per_class={"a": score, "b": score},
        labels=("a", "b"),
        confusion=((3, 1), (0, 2)),
    )

    assert confusion_record(evaluation) == {
        "labels": ["a", "b"],
        "cells": [[0, 0, 3], [0, 1, 1], [1, 1, 2]],
    }


def test_cli_report_and_its_errors(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_dir), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").is_file()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no metrics.jsonl" in err
    with pytest.raises(RunDirError):
        load_run(tmp_path / "nothing")
