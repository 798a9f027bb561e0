"""What a finished run gives Python: its summary, its metrics per step, its directory and its
best student."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pgkd.api.student import DistilledStudent, load_student
from pgkd.errors import RunDirError
from pgkd.rundir.directory import BEST_DIR, SUMMARY_FILE, RunDirectory

REPORT_FILE = "report.html"
#: Splits whose scores :meth:`RunResult.scores` flattens, and the scores it keeps of each.
SCORED_SPLITS = ("val", "test", "loop_test")
SCORES = ("loss", "accuracy", "macro_f1")


@dataclass(frozen=True, repr=False)
class RunResult:
    """A finished run, read from its directory.

    ``summary`` is ``summary.json`` (best step, model_0 and best scores, samples, teacher
    calls, tokens and cost); ``metrics`` holds one ``metrics.jsonl`` line per evaluated student
    (step 0 is model_0). ``student`` loads the best student on first use.
    """

    run_dir: Path
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]

    @classmethod
    def read(cls, run_dir: str | Path) -> RunResult:
        """The finished run in ``run_dir``; an unfinished one is a RunDirError saying how to
        resume it."""
        path = Path(run_dir)
        summary_path = path / SUMMARY_FILE
        if not summary_path.is_file():
            raise RunDirError(
                f"{path}: no {SUMMARY_FILE}; the run has not finished: continue it with "
                f"pgkd.resume({str(path)!r}) or `pgkd resume {path}`"
            )
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        return cls(path, summary, RunDirectory(path).metrics())

    @property
    def best_step(self) -> int:
        return int(self.summary["best_step"])

    @property
    def best_model(self) -> Path:
        """The best student's folder (``best/``)."""
        return self.run_dir / BEST_DIR

    @property
    def report(self) -> Path:
        """``report.html``: plots, samples, prompts and costs of the run."""
        return self.run_dir / REPORT_FILE

    @cached_property
    def student(self) -> DistilledStudent:
        """The best student, loaded once: ``result.student.predict(texts)``."""
        return load_student(self.best_model)

    def scores(self) -> list[dict[str, Any]]:
        """One flat row per evaluated student (``step``, ``val_loss``, ``val_accuracy``,
        ``val_macro_f1``, the same for ``test`` and ``loop_test`` when the run has them,
        ``accepted``, ``is_best``): ``pandas.DataFrame(result.scores())`` is a table."""
        rows = []
        for line in self.metrics:
            row: dict[str, Any] = {"step": line["step"]}
            for split in SCORED_SPLITS:
                for name in SCORES:
                    if isinstance(line.get(split), dict) and name in line[split]:
                        row[f"{split}_{name}"] = line[split][name]
            row["accepted"] = int(line.get("accepted", 0))
            row["is_best"] = line["step"] == self.best_step
            rows.append(row)
        return rows

    def __str__(self) -> str:
        best = self.summary.get("best", {})
        parts = [
            f"{self.run_dir}: {self.summary.get('steps_run')} steps, best step {self.best_step}"
        ]
        for split in ("val", "test"):
            scores = best.get(split)
            if isinstance(scores, dict) and "accuracy" in scores:
                parts.append(f"{split} acc {scores['accuracy']:.3f}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"RunResult({self})"
