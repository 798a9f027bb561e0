"""Assembles ``report.html``: one file, inline CSS, SVG and a small script, no network.

A Content-Security-Policy in the page forbids every fetch and allows only the page's own
script (by hash), so even a sample text that slipped through unescaped could not run.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from pgkd.report.markup import esc, money, num, signed
from pgkd.report.quality import confusion_section, per_class_section, scores_section
from pgkd.report.rundata import RunData, load_run
from pgkd.report.spend import gain_section
from pgkd.report.teaching import (
    prompts_section,
    sample_table_section,
    samples_section,
    teacher_section,
)
from pgkd.store import atomic_write_bytes

REPORT_FILE = "report.html"

STYLE = """
:root{--ink:#1d2433;--muted:#5b6476;--line:#dfe3ea;--bg:#f6f7f9;--up:#007a55;--down:#c0392b}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--ink);background:var(--bg)}
header{background:#1d2433;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:20px}
header p{margin:0;color:#c9d1e0}
nav{padding:8px 28px;background:#fff;border-bottom:1px solid var(--line);
  position:sticky;top:0;z-index:2}
nav a{margin-right:16px;color:#0b5cad;text-decoration:none}
main{padding:0 28px 40px;max-width:1240px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;
  padding:16px 20px;margin:18px 0}
h2{font-size:17px;margin:0 0 8px}
h3{font-size:14px;margin:10px 0 6px}
.note{color:var(--muted);font-size:12.5px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;
  padding:10px 14px;min-width:170px}
.card b{display:block;font-size:20px}
.card span{color:var(--muted);font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
figure{margin:0}
svg.chart{background:#fff;max-width:100%;height:auto}
svg .grid{stroke:#edf0f4}
svg .axis{stroke:#9aa3b2}
svg .tick,svg .axis-label{font-size:11px;fill:#5b6476}
svg .chart-title{font-size:13px;font-weight:600;fill:#1d2433}
svg .best-line{stroke:#1d2433;stroke-dasharray:3 3}
svg .best-label{font-size:11px;fill:#1d2433;font-weight:600}
.legend{font-size:12px;color:var(--muted);margin:2px 0 0 52px;max-width:520px}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:18px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f6;position:sticky;top:0;z-index:1}
table.sortable th{cursor:pointer}
.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#e8f5ee;font-weight:600}
tr.total td{font-weight:600;border-top:2px solid var(--line)}
.scroll{max-height:460px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.up{color:var(--up)}.down{color:var(--down)}.flat{color:var(--muted)}
td.label,th.label{white-space:nowrap;max-width:280px;overflow:hidden;text-overflow:ellipsis}
td.text{white-space:pre-wrap;word-break:break-word;max-width:620px}
td.barcell{position:relative;min-width:110px}
td.barcell .bar{position:absolute;left:0;top:3px;bottom:3px;opacity:.28;border-radius:2px}
td.barcell .val{position:relative}
td.heat{min-width:34px}
table.matrix{width:auto}
table.matrix td{text-align:center;min-width:44px}
table.matrix th.vertical{height:120px;vertical-align:bottom;white-space:nowrap}
table.matrix th.vertical span{writing-mode:vertical-rl;transform:rotate(180deg)}
.movers{display:flex;gap:40px;flex-wrap:wrap}
.movers ol{margin:0;padding-left:22px}
.controls{display:flex;gap:10px;align-items:center;margin:6px 0 10px}
input[type=search]{padding:5px 8px;width:320px;border:1px solid #b9c0cc;border-radius:5px}
select{padding:4px}
details{margin:6px 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f7f9;padding:10px;
  border-radius:6px;font-size:12px;max-height:520px;overflow:auto}
"""

SCRIPT = """
"use strict";
(function () {
  function filterSamples() {
    var q = document.getElementById("sample-search");
    var table = document.getElementById("sample-table");
    if (!q || !table) { return; }
    var needle = q.value.trim().toLowerCase();
    var step = document.getElementById("sample-step").value;
    var status = document.getElementById("sample-status").value;
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (!step || r.getAttribute("data-step") === step) &&
        (!status || r.getAttribute("data-status") === status) &&
        (!needle || r.textContent.toLowerCase().indexOf(needle) !== -1);
      r.hidden = !ok;
      if (ok) { shown++; }
    }
    document.getElementById("sample-count").textContent = shown + " of " + rows.length + " samples";
  }
  function filterClasses() {
    var q = document.getElementById("class-search");
    var table = document.getElementById("class-table");
    if (!q || !table) { return; }
    var needle = q.value.trim().toLowerCase();
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var name = rows[i].cells[0].textContent.toLowerCase();
      rows[i].hidden = needle !== "" && name.indexOf(needle) === -1;
    }
  }
  function sortBy(table, column, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = th.getAttribute("data-order") !== "desc";
    var numeric = rows.every(function (r) {
      var v = r.cells[column] && r.cells[column].getAttribute("data-v");
      return v !== null && v !== "" && !isNaN(Number(v));
    });
    rows.sort(function (a, b) {
      var x = a.cells[column].getAttribute("data-v") || "";
      var y = b.cells[column].getAttribute("data-v") || "";
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return descending ? -c : c;
    });
    th.setAttribute("data-order", descending ? "desc" : "asc");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      th.addEventListener("click", function () { sortBy(table, column, th); });
    });
  });
  ["sample-search", "sample-step", "sample-status"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) { el.addEventListener("input", filterSamples); }
  });
  var classSearch = document.getElementById("class-search");
  if (classSearch) { classSearch.addEventListener("input", filterClasses); }
  window.addEventListener("hashchange", openTarget);
  filterSamples();
  openTarget();
})();
"""


def script_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def content_security_policy(*scripts: str) -> str:
    allowed = " ".join(script_hash(s) for s in scripts)
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {allowed}; base-uri 'none'; form-action 'none'"
    )


def render_report(run: RunData) -> str:
    """The whole page as a string."""
    title = f"pgkd run: {run.path.name or run.path}"
    body = "".join(
        (
            _cards(run),
            scores_section(run),
            per_class_section(run),
            confusion_section(run),
            samples_section(run),
            teacher_section(run),
            gain_section(run),
            sample_table_section(run),
            prompts_section(run),
        )
    )
    nav = "".join(
        f'<a href="#{anchor}">{esc(name)}</a>'
        for anchor, name in (
            ("scores", "Scores"),
            ("classes", "Per class"),
            ("confusion", "Confusions"),
            ("samples", "Samples"),
            ("teacher", "Teacher"),
            ("gain", "Gain per spend"),
            ("table", "Sample table"),
            ("prompts", "Prompts"),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        f'content="{esc(content_security_policy(SCRIPT))}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(_subtitle(run))}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main><script>{SCRIPT}</script></body></html>\n"
    )


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``report.html`` for the run in ``run_dir`` (or to ``out``); returns its path."""
    run_dir = Path(run_dir)
    target = Path(out) if out is not None else run_dir / REPORT_FILE
    atomic_write_bytes(target, render_report(load_run(run_dir)).encode("utf-8"))
    return target


def _subtitle(run: RunData) -> str:
    teacher = run.config.get("teacher", {}).get("model", "?")
    student = run.config.get("student", {}).get("kind", "?")
    parts = [f"teacher {teacher}", f"student {student}"]
    preset = run.config.get("kd", {}).get("preset")
    if preset:  # runs from before presets existed have none
        parts.append(f"preset {preset}")
    summary = run.summary
    if summary is None:
        parts.append(f"in progress or interrupted: {len(run.steps)} students evaluated so far")
    else:
        stop = summary.get("stop_reason") or "ran all steps"
        parts.append(f"{summary.get('steps_run')} steps run, best step {run.best_step} ({stop})")
    return " · ".join(parts)


def _cards(run: RunData) -> str:
    first, best = run.steps.get(0, {}), run.steps.get(run.best_step, {})
    cards = []
    for split, name in (("val", "validation"), ("test", "test")):
        for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
            a, b = _get(first, split, key), _get(best, split, key)
            if b is None:
                continue
            change = signed(b - a) if a is not None else "-"
            cards.append(_card(num(b), f"best {name} {label} (model_0 {num(a)}, {change})"))
    accepted = sum(1 for s in run.samples if s.accepted)
    cards.append(_card(f"{accepted:,}", f"samples accepted of {len(run.samples):,} generated"))
    teacher = (run.summary or {}).get("teacher") or _teacher_totals(run)
    cards.append(_card(f"{int(teacher.get('calls', 0)):,}", "teacher calls"))
    tokens = int(teacher.get("input_tokens", 0)) + int(teacher.get("output_tokens", 0))
    cards.append(_card(f"{tokens:,}", "teacher tokens (in + out)"))
    cards.append(_card(money(teacher.get("cost_usd", 0.0)), "teacher cost"))
    return f'<div class="cards">{"".join(cards)}</div>'


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def _get(line: dict[str, Any], split: str, key: str) -> float | None:
    block = line.get(split)
    value = block.get(key) if isinstance(block, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _teacher_totals(run: RunData) -> dict[str, float]:
    totals: dict[str, float] = {}
    for step in run.step_numbers:
        for key, value in (run.steps[step].get("generation") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0.0) + value
    return totals
