"""Report sections about the teacher: what it wrote per class and step, what validation
rejected and why, what it cost, every sample in a searchable table, and the prompts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pgkd.report.markup import cell, esc, heat_cell, money, row, section, table
from pgkd.report.rundata import GeneratedSample, RunData
from pgkd.report.svg import PALETTE, Series, legend, stacked_bars

#: Teacher accounting keys of a metrics line's ``generation`` block, in display order.
ACCOUNTING = (
    ("calls", "calls"),
    ("failed_calls", "failed"),
    ("retries", "retries"),
    ("reasks", "re-asks"),
    ("cached_calls", "cached"),
    ("cancelled_calls", "cancelled"),
    ("unparsable", "unparsable samples"),
    ("input_tokens", "input tokens"),
    ("output_tokens", "output tokens"),
    ("cost_usd", "cost"),
)
ACCEPTED_COLOR = "#009E73"
REASON_COLORS = ("#D55E00", "#E69F00", "#CC79A7", "#56B4E9", "#0072B2", "#F0E442", "#999999")


def teacher_steps(run: RunData) -> list[int]:
    return [s for s in run.step_numbers if s > 0]


def samples_section(run: RunData) -> str:
    steps = teacher_steps(run)
    if not run.samples:
        return section("samples", "Generated samples", "<p>No teacher samples yet.</p>")
    return section(
        "samples",
        "Generated samples per class and step",
        _acceptance_chart(run, steps) + _class_step_table(run, steps),
        "Accepted samples per class (rows, most first) and step (columns).",
    )


def _acceptance_chart(run: RunData, steps: list[int]) -> str:
    reasons = Counter(key for s in run.samples for key in s.reason_keys[:1])
    names = [name for name, _ in reasons.most_common()]
    stacks: list[tuple[str, list[float], str]] = [
        (
            "accepted",
            [float(sum(1 for s in run.samples if s.step == st and s.accepted)) for st in steps],
            ACCEPTED_COLOR,
        )
    ]
    for n, name in enumerate(names):
        values = [
            float(sum(1 for s in run.samples if s.step == st and s.reason_keys[:1] == (name,)))
            for st in steps
        ]
        stacks.append((f"rejected: {name}", values, REASON_COLORS[n % len(REASON_COLORS)]))
    chart = stacked_bars(
        [str(s) for s in steps],
        stacks,
        title="Samples per step: accepted, and rejected by first reason",
    )
    keys = [Series(name, [], color) for name, _, color in stacks]
    figure = f"<figure>{chart}{legend(keys)}</figure>"
    return f'<div class="charts">{figure}{_rejections_table(run, steps)}</div>'


def _rejections_table(run: RunData, steps: list[int]) -> str:
    """Every reason a sample was rejected for (a sample may have several), by step."""
    counts: Counter[tuple[str, int]] = Counter()
    for s in run.samples:
        for key in set(s.reason_keys):
            counts[(key, s.step)] += 1
    if not counts:
        return "<div><h3>Rejections by reason</h3><p>Nothing was rejected.</p></div>"
    totals = Counter[str]()
    for (key, _), n in counts.items():
        totals[key] += n
    rows = [
        row(
            [
                cell(key, css="label"),
                *(cell(counts[(key, st)], numeric=True) for st in steps),
                cell(total, numeric=True),
            ]
        )
        for key, total in totals.most_common()
    ]
    headers = ["reason", *(f"step {s}" for s in steps), "total"]
    return (
        "<div><h3>Rejections by reason</h3>"
        + table(headers, rows, numeric=[False, *([True] * (len(steps) + 1))], scroll=True)
        + "</div>"
    )


def _class_step_table(run: RunData, steps: list[int]) -> str:
    accepted: Counter[tuple[str, int]] = Counter()
    rejected: Counter[str] = Counter()
    for s in run.samples:
        if s.accepted:
            accepted[(s.label, s.step)] += 1
        else:
            rejected[s.label] += 1
    labels = list(dict.fromkeys([*run.labels, *(s.label for s in run.samples)]))
    totals = {c: sum(accepted[(c, st)] for st in steps) for c in labels}
    peak = max(accepted.values(), default=0)
    rows = [
        row(
            [
                cell(c, css="label"),
                *(heat_cell(accepted[(c, st)], peak) for st in steps),
                cell(totals[c], numeric=True),
                cell(rejected[c], numeric=True),
            ]
        )
        for c in sorted(labels, key=lambda c: (-totals[c], c))
    ]
    headers = ["class", *(f"step {s}" for s in steps), "accepted", "rejected"]
    return table(
        headers, rows, sortable=True, scroll=True, numeric=[False, *([True] * (len(steps) + 2))]
    )


def teacher_section(run: RunData) -> str:
    steps = teacher_steps(run)
    blocks = {s: run.steps[s].get("generation") or {} for s in steps}
    if not any(blocks.values()):
        return section(
            "teacher", "Teacher calls, tokens and cost", "<p>No teacher accounting yet.</p>"
        )
    keys = [(k, name) for k, name in ACCOUNTING if any(k in b for b in blocks.values())]
    rows = [row([cell(s), *(_account_cell(k, blocks[s].get(k)) for k, _ in keys)]) for s in steps]
    totals = {k: sum(_number(blocks[s].get(k)) for s in steps) for k, _ in keys}
    rows.append(
        row([cell("total"), *(_account_cell(k, totals[k]) for k, _ in keys)], {"class": "total"})
    )
    headers = ["step", *(name for _, name in keys)]
    tokens = stacked_bars(
        [str(s) for s in steps],
        [
            ("input tokens", [_number(blocks[s].get("input_tokens")) for s in steps], PALETTE[0]),
            ("output tokens", [_number(blocks[s].get("output_tokens")) for s in steps], PALETTE[1]),
        ],
        title="Teacher tokens per step",
    )
    key = legend([Series("input tokens", [], PALETTE[0]), Series("output tokens", [], PALETTE[1])])
    return section(
        "teacher",
        "Teacher calls, tokens and cost",
        f'<div class="charts"><figure>{tokens}{key}</figure>{_timing_chart(run, steps)}</div>'
        + table(headers, rows, numeric=[False, *([True] * len(keys))]),
        "Calls count every attempt, retries and re-asks included; cached replies cost nothing; "
        "cancelled calls were still in flight when the batch was full.",
    )


def _timing_chart(run: RunData, steps: list[int]) -> str:
    phases = ("prepare", "teacher", "validation", "training", "evaluation")
    seconds = {s: run.steps[s].get("seconds") or {} for s in steps}
    present = [p for p in phases if any(p in seconds[s] for s in steps)]
    if not present:
        return ""
    stacks = [
        (p, [_number(seconds[s].get(p)) for s in steps], PALETTE[n % len(PALETTE)])
        for n, p in enumerate(present)
    ]
    chart = stacked_bars([str(s) for s in steps], stacks, title="Seconds per step, by phase")
    return f"<figure>{chart}{legend([Series(p, [], c) for p, _, c in stacks])}</figure>"


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _account_cell(key: str, value: Any) -> str:
    if key == "cost_usd":
        return f'<td class="num" data-v="{_number(value)!r}">{money(value)}</td>'
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return cell(value, numeric=True)


def sample_table_section(run: RunData) -> str:
    if not run.samples:
        return section("table", "Samples", "<p>No teacher samples yet.</p>")
    steps = sorted({s.step for s in run.samples})
    options = "".join(f'<option value="{s}">step {s}</option>' for s in steps)
    controls = (
        '<div class="controls"><input id="sample-search" type="search" '
        'placeholder="search text, label or reason" aria-label="search samples">'
        '<select id="sample-step" aria-label="step"><option value="">all steps</option>'
        f"{options}</select>"
        '<select id="sample-status" aria-label="status"><option value="accepted">accepted</option>'
        '<option value="rejected">rejected</option><option value="">all</option></select>'
        '<span id="sample-count" class="note"></span></div>'
    )
    rows = [_sample_row(s, s.step in run.prompts) for s in run.samples]
    headers = ["step", "label", "text", "status", "prompt context"]
    return section(
        "table",
        "Every generated sample",
        controls + table(headers, rows, table_id="sample-table", scroll=True),
        "Texts are shown exactly as the teacher wrote them (as text, never as HTML).",
    )


def _sample_row(s: GeneratedSample, has_prompt: bool) -> str:
    status = "accepted" if s.accepted else "rejected: " + "; ".join(s.reasons)
    context = (
        f'<a href="#prompt-{s.step}">step {s.step} prompt</a>' if has_prompt else f"step {s.step}"
    )
    if s.call_id:
        context += f' <span class="note">call {esc(s.call_id)}</span>'
    return row(
        [
            cell(s.step, numeric=True),
            cell(s.label, css="label"),
            f'<td class="text">{esc(s.text)}</td>',
            f'<td class="{"up" if s.accepted else "down"}">{esc(status)}</td>',
            f"<td>{context}</td>",
        ],
        {"data-step": str(s.step), "data-status": "accepted" if s.accepted else "rejected"},
    )


def prompts_section(run: RunData) -> str:
    if not run.prompts:
        return section(
            "prompts",
            "Prompts",
            '<p class="note">The journal holds no prompt text for this run.</p>',
        )
    items = "".join(
        f'<details id="prompt-{step}"><summary>Step {step} prompt ({len(text):,} characters)'
        f"</summary><pre>{esc(text)}</pre></details>"
        for step, text in sorted(run.prompts.items())
    )
    return section(
        "prompts",
        "Prompts sent to the teacher",
        items,
        "What each step asked: the validation report and the examples the samples answer to.",
    )
