"""kill -9 a batch-mode run while its job is pending, resume it: the resumed run re-attaches to
the journaled job and submits no new job for that step, so nothing is paid twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer


def pgkd(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENAI_API_KEY": kit.SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "pgkd.commands.cli", *args, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def journaled_jobs(run: Path) -> list[dict[str, object]]:
    path = run / "journal.jsonl"
    if not path.exists():
        return []
    jobs = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "batch_job":
            jobs.append(event)
    return jobs


@pytest.mark.slow
def test_kill_9_while_the_job_is_pending_then_resume_submits_nothing_new(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    # Jobs stay pending until the test lets them end.
    with LoopbackServer(batch_polls=10**9) as server:
        config = tmp_path / "run.toml"
        config.write_text(
            f'[data]\ntrain = "{tickets["train"]}"\ntest = "{tickets["test"]}"\n'
            f'[teacher]\nmodel = "openai:{kit.MODELS["openai"]}"\n'
            f'base_url = "{server.url}/v1"\nsamples_per_call = 8\n'
            "batch = true\nbatch_poll_seconds = 0.02\n"
            "options = {price_in = 1.0, price_out = 4.0}\n"
            "[student]\nmax_length = 64\n[kd]\nsteps = 2\npatience = 2\nbatch_size = 16\n"
        )
        run = tmp_path / "run"
        proc = pgkd("run", str(config), "--out", str(run))
        deadline = time.monotonic() + 240
        while not journaled_jobs(run) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        # Let it poll the pending job a few times, then kill it.
        job = server.batches.created("s1c")[0]
        while job.polls < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert not job.ended and len(server.batches.created("s1c")) == 1
        served_before = len(server.served)
        assert served_before == 0

        server.batch_polls = 2
        resumed = pgkd("resume", str(run))
        _, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err.decode()[-2000:]
        step_1 = server.batches.created("s1c")
        assert [j.id for j in step_1] == [job.id], "the resumed run submitted step 1 again"
        assert len(server.batches.created("s2c")) == 1
        served = len(server.served)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps_run"] == 2
    # Every request the server answered was counted once, at the batch price.
    assert summary["teacher"]["calls"] == served == 4
    assert next(e["job_id"] for e in journaled_jobs(run)) == job.id
