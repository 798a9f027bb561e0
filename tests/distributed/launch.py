"""Start a command as 2 CPU processes under ``python -m torch.distributed.run`` (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A hang would show as this timeout (seconds) inside the processes, before the test's own.
#: Generous: a rank waits this long for rank 0's next request on a busy machine.
RANK_TIMEOUT = "300"
TEST_TIMEOUT = 540


def environment() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        OMP_NUM_THREADS="1",
        PGKD_DISTRIBUTED_TIMEOUT=RANK_TIMEOUT,
        PGKD_PROGRESS="quiet",
    )
    return env


def torchrun(*args: str, cwd: Path, processes: int = 2) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        *args,
    ]
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT,
        check=False,
    )


def single(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT,
        check=False,
    )
