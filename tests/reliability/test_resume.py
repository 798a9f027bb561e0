"""kill -9 a run at different points, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
VOLATILE = {
    "seconds",
    "calls",
    "cached_calls",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
}


def write_config(tmp_path: Path, tickets: dict[str, Path], delay: float) -> Path:
    config = tmp_path / "run.toml"
    config.write_text(
        f'[data]\ntrain = "{tickets["train"]}"\ntest = "{tickets["test"]}"\n'
        f'[teacher]\nmodel = "deterministic:{tickets["pool"]}"\n'
        "concurrency = 1\nsamples_per_call = 4\n"
        f"options = {{delay = {delay}}}\n"
        "[student]\nmax_length = 64\n[kd]\nsteps = 4\npatience = 4\nbatch_size = 8\n"
        '[plugins]\nload = ["deterministic_teacher:Teachers"]\n'
    )
    return config


def env(log: Path) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = f"{HERE}{os.pathsep}{out.get('PYTHONPATH', '')}"
    out["PGKD_TEST_REQUEST_LOG"] = str(log)
    return out


def pgkd(*args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pgkd.commands.cli", *args, "--quiet"],
        env=env(log),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def events(run: Path) -> list[dict[str, Any]]:
    path = run / "journal.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def comparable(run: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    by_step: dict[int, dict[str, Any]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("seconds", None)
        record["generation"] = {
            k: v for k, v in (record.get("generation") or {}).items() if k not in VOLATILE
        }
        by_step[record["step"]] = record
    summary = json.loads((run / "summary.json").read_text())
    summary.pop("teacher")
    summary.pop("best_model")
    return [by_step[s] for s in sorted(by_step)], summary


def mid_batch(run: Path) -> bool:
    return any(e.get("event") == "teacher_call" and e.get("step") == 2 for e in events(run))


def after_samples(run: Path) -> bool:
    return any(e.get("event") == "sample" and e.get("step") == 2 for e in events(run))


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", [mid_batch, after_samples], ids=["mid_batch", "training"])
def test_kill_9_then_resume_equals_an_uninterrupted_run(
    tickets: dict[str, Path], tmp_path: Path, kill_when: Callable[[Path], bool]
) -> None:
    config = write_config(tmp_path, tickets, delay=0.3)
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    straight_log, broken_log = tmp_path / "straight.log", tmp_path / "broken.log"
    code, _, err = finish(pgkd("run", str(config), "--out", str(straight), log=straight_log), 300)
    assert code == 0, err

    proc = pgkd("run", str(config), "--out", str(broken), log=broken_log)
    deadline = time.monotonic() + 240
    while not kill_when(broken) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the kill point"
    proc.send_signal(signal.SIGKILL)
    finish(proc, 30)
    assert not (broken / "summary.json").exists()

    code, _, err = finish(pgkd("resume", str(broken), log=broken_log), 300)
    assert code == 0, err
    assert comparable(broken) == comparable(straight)

    # The teacher logs each request as it arrives. The one call in flight when the process
    # died (concurrency 1) was never answered, so it may be asked again; a journaled answer
    # never is.
    paid = [json.loads(line)["seed"] for line in broken_log.read_text().splitlines()]
    asked_again = len(paid) - len(set(paid))
    assert asked_again <= 1, "a journaled teacher response was paid for twice"
    assert len(set(paid)) == len(straight_log.read_text().splitlines())

    code, out, _ = finish(pgkd("resume", str(broken), log=broken_log), 60)
    assert code == 0 and "already finished" in out


def test_resume_refuses_a_changed_config_naming_the_keys(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    from pgkd.commands.cli import main

    config = write_config(tmp_path, tickets, delay=0.0)
    run = tmp_path / "run"
    (run).mkdir()
    from pgkd.config import load_config
    from pgkd.runner import RunDirectory

    RunDirectory(run).create(load_config(config), overwrite=False)
    code = main(["resume", str(run), "--set", "kd.steps=7", "--set", "teacher.concurrency=3"])
    assert code == 2


def test_resume_refuses_changed_data(tickets: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from pgkd.config import load_config
    from pgkd.errors import RunDirError
    from pgkd.runner import RunDirectory

    train = tmp_path / "train.jsonl"
    shutil.copy(tickets["train"], train)
    config = load_config(write_config(tmp_path, {**tickets, "train": train}, delay=0.0))
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(config, overwrite=False)
    with train.open("a") as fh:
        fh.write('{"text": "one more ticket about billing", "label": "billing"}\n')
    with pytest.raises(RunDirError, match=r"data changed since the run started \(\[data\] train\)"):
        run_dir.check_resumable(config, None)
