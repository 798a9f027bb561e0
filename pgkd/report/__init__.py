"""``report.html``: a run directory as one self-contained page (inline SVG, no network).

``write_report(run_dir)`` reads ``config.toml``, ``metrics.jsonl``, ``summary.json`` and
``journal.jsonl`` and writes ``run_dir/report.html``; ``pgkd report RUN_DIR`` does the same.
"""

from __future__ import annotations

from pgkd.report.page import REPORT_FILE, render_report, write_report
from pgkd.report.rundata import RunData, confusion_record, load_run

__all__ = [
    "REPORT_FILE",
    "RunData",
    "confusion_record",
    "load_run",
    "render_report",
    "write_report",
]
