"""pgkd-mlflow: log a pgkd run to MLflow when it ends. See README.md for what is logged."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgkd import hookimpl
from pgkd_mlflow.logger import log_run

__all__ = ["log_run", "on_run_end"]


@hookimpl
def on_run_end(run_dir: Path, summary: Mapping[str, Any]) -> None:
    """Fires once after ``summary.json`` was written: log the whole run."""
    log_run(Path(run_dir), summary)
