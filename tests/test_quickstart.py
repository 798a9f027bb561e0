"""The README's quick start, as a newcomer runs it: the demo config with the local teacher."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_readme_shows_exactly_the_two_make_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, flags=re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def demo_command() -> list[str]:
    """The pgkd command `make demo` runs, read from the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^demo:.*\n\t(.+)$", makefile, flags=re.M)
    assert match is not None
    words = [w for w in match.group(1).split() if "=" not in w or w.startswith("--")]
    assert words[0].endswith("/pgkd")
    return words[1:]


@pytest.mark.slow
def test_demo_runs_offline_and_its_best_model_answers_predict(tmp_path: Path) -> None:
    args = demo_command()
    out = tmp_path / "demo"
    args[args.index("--out") + 1] = str(out)
    done = subprocess.run(
        [sys.executable, "-m", "pgkd.commands.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PGKD run finished" in done.stdout and str(out / "best") in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_run"] >= 3
    assert summary["teacher"]["calls"] >= 3 and summary["samples"]["generated"] > 0
    assert summary["model_0"]["test"]["accuracy"] > 0.5
    preds = tmp_path / "preds.jsonl"
    predicted = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgkd.commands.cli",
            "predict",
            str(out / "best"),
            str(ROOT / "examples/support_tickets/test.jsonl"),
            "--out",
            str(preds),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert len(preds.read_text().splitlines()) == 120
    # The README's next step: the student against its teacher on the same held-out texts.
    compared = subprocess.run(
        [sys.executable, "-m", "pgkd.commands.cli", "compare", str(out), "--limit", "8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compared.returncode == 0, compared.stderr[-2000:]
    result = json.loads((out / "compare.json").read_text())
    assert result["texts"] == 8 and result["teacher"]["model"] == "local:smollm2"
    assert result["teacher"]["calls"] >= 8 and result["speedup"] > 1
    assert "speed-up" in compared.stdout
