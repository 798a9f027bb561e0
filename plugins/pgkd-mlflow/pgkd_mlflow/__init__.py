"""pgkd-mlflow: log a pgkd run to MLflow as it goes, step by step, and close it when it ends.
See README.md for what is logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgkd import PluginError, hookimpl
from pgkd_mlflow.logger import log_run, log_step

log = logging.getLogger("pgkd_mlflow")

__all__ = ["log_run", "log_step", "on_run_end", "on_step_end"]


@hookimpl
def on_step_end(context: Any, record: Any) -> None:
    """Fires as each KD step completes: log its student's numbers, stamped with this moment.
    Returns nothing, so it never has a say on the best student or on stopping. A tracking
    server that fails mid-run does not stop the distillation: it is warned about once, and the
    run is logged whole when it ends."""
    if context.run_dir is None:
        return
    try:
        log_step(Path(context.run_dir), record)
    except PluginError as exc:
        log.warning("%s", exc)


@hookimpl
def on_run_end(run_dir: Path, summary: Mapping[str, Any]) -> None:
    """Fires once after ``summary.json`` was written: complete and close the MLflow run."""
    log_run(Path(run_dir), summary)
