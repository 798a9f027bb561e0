"""Progress output: plain, readable lines off a terminal (CI logs), nothing when quiet."""

from __future__ import annotations

import io

import pytest

from pgkd.progress import Progress


def test_plain_mode_prints_one_line_per_finished_task() -> None:
    stream = io.StringIO()
    progress = Progress(live=False, stream=stream, plain_interval=3600)

    fit = progress.fit_callback()
    assert fit is not None
    for done in range(1, 5):
        fit(done, 10, "epoch 1")  # stops early: finished by the next stage
    fill = progress.fill_callback()
    assert fill is not None
    fill(8, 16, 2, 1, 0.01)
    fill(16, 16, 0, 1, 0.02)
    progress.stage("done")

    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("  training: epoch 1: 4/10 batches in ")
    assert lines[1].startswith("  teacher: 16/16 samples in ")
    assert lines[1].endswith("0 calls in flight, 1 retries, $0.0200")
    assert lines[2] == "pgkd: done"
    assert "\r" not in stream.getvalue()


def test_plain_mode_reports_long_work_at_intervals() -> None:
    stream = io.StringIO()
    progress = Progress(live=False, stream=stream, plain_interval=0.0)
    rows = progress.task("predict")

    rows(100, 300)
    rows(200, 300)
    rows(300, 300)

    lines = stream.getvalue().splitlines()
    assert [line.split(" rows")[0] for line in lines] == [
        "  predict: 100/300",
        "  predict: 200/300",
        "  predict: 300/300",
    ]


def test_quiet_prints_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(live=False, quiet=True, stream=stream)

    assert progress.fit_callback() is None and progress.fill_callback() is None
    progress.task("predict")(5, 10)
    progress.stage("loading data")
    progress.close()

    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("env", "live", "quiet"), [("plain", False, False), ("quiet", False, True)]
)
def test_environment_picks_the_mode(
    env: str, live: bool, quiet: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGKD_PROGRESS", env)

    progress = Progress.auto()

    assert (progress.live, progress.quiet) == (live, quiet)
