"""Report sections about the student: scores per step, per-class F1, confusions."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pgkd.report.markup import (
    bar_cell,
    cell,
    delta_class,
    esc,
    heat_cell,
    row,
    section,
    signed,
    table,
)
from pgkd.report.rundata import RunData
from pgkd.report.svg import PALETTE, Series, legend, line_chart

SPLITS = (("val", "val", False), ("test", "test", True), ("loop_test", "loop-test", True))
#: Above this many classes the confusion matrix becomes a list of the top confusions.
MATRIX_MAX_CLASSES = 20
TOP_CONFUSIONS = 30
TOP_MOVERS = 10


def value(line: dict[str, Any], split: str, key: str) -> float:
    block = line.get(split)
    raw = block.get(key) if isinstance(block, dict) else None
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else math.nan


def splits_present(run: RunData) -> list[tuple[str, str, bool]]:
    return [
        s for s in SPLITS if any(isinstance(line.get(s[0]), dict) for line in run.steps.values())
    ]


def scores_section(run: RunData) -> str:
    steps, best = run.step_numbers, run.best_step
    metric_series: list[Series] = []
    loss_series: list[Series] = []
    for n, (split, name, dashed) in enumerate(splits_present(run)):
        for key, label, color in (("accuracy", "accuracy", 0), ("macro_f1", "macro-F1", 1)):
            points = [(float(s), value(run.steps[s], split, key)) for s in steps]
            metric_series.append(
                Series(f"{name} {label}", points, PALETTE[color + 2 * (n == 2)], dashed)
            )
        loss_points = [(float(s), value(run.steps[s], split, "loss")) for s in steps]
        loss_series.append(Series(f"{name} loss", loss_points, PALETTE[3 + n], dashed))
    mark = f"best: step {best}"
    charts = (
        '<div class="charts"><figure>'
        + line_chart(
            metric_series, title="Accuracy and macro-F1 per step", mark_x=best, mark_label=mark
        )
        + legend(metric_series)
        + "</figure><figure>"
        + line_chart(
            loss_series,
            title="Loss per step (early stopping watches val loss)",
            mark_x=best,
            mark_label=mark,
        )
        + legend(loss_series)
        + "</figure></div>"
    )
    return section(
        "scores",
        "Scores per step",
        charts + _scores_table(run),
        "Step 0 is model_0, trained on your data alone. The marked step is the kept student.",
    )


def _scores_table(run: RunData) -> str:
    present = splits_present(run)
    headers = ["step"]
    for _, name, _ in present:
        headers += [f"{name} acc", f"{name} macro-F1", f"{name} loss"]
    headers += ["accepted", "rejected"]
    rows = []
    for step in run.step_numbers:
        line = run.steps[step]
        cells = [cell("model_0" if step == 0 else step)]
        for split, _, _ in present:
            cells += [
                cell(value(line, split, k), numeric=True) for k in ("accuracy", "macro_f1", "loss")
            ]
        cells += [
            cell(line.get("accepted", 0), numeric=True),
            cell(line.get("rejected", 0), numeric=True),
        ]
        rows.append(row(cells, {"class": "best"} if step == run.best_step else None))
    numeric = [False] + [True] * (len(headers) - 1)
    return table(headers, rows, numeric=numeric)


def per_class_section(run: RunData) -> str:
    best = run.best_step
    first, last = run.per_class(0), run.per_class(best)
    labels = run.labels
    if not labels or not first:
        return section("classes", "Per-class F1", "<p>No per-class scores in metrics.jsonl.</p>")
    accepted = Counter(s.label for s in run.samples if s.accepted)
    f0 = {c: float(first.get(c, {}).get("f1", math.nan)) for c in labels}
    fb = {c: float(last.get(c, {}).get("f1", math.nan)) for c in labels}
    order = sorted(labels, key=lambda c: (_nan_low(fb[c]), c))
    rows = []
    for c in order:
        delta = fb[c] - f0[c]
        support = first.get(c, {}).get("support", last.get(c, {}).get("support"))
        rows.append(
            row(
                [
                    cell(c, css="label"),
                    cell(support, numeric=True),
                    bar_cell(f0[c], PALETTE[1]),
                    bar_cell(fb[c], PALETTE[0]),
                    _delta_cell(delta),
                    cell(accepted.get(c, 0), numeric=True),
                ]
            )
        )
    headers = [
        "class",
        "val support",
        "F1 model_0",
        f"F1 best (step {best})",
        "change",
        "samples added",
    ]
    body = (
        _class_dots(labels, f0, fb, best)
        + _movers(labels, f0, fb)
        + '<p><input id="class-search" type="search" placeholder="filter classes" '
        'aria-label="filter classes"> <span class="note">click a column header to sort</span></p>'
        + table(
            headers,
            rows,
            table_id="class-table",
            sortable=True,
            scroll=True,
            numeric=[False, True, True, True, True, True],
        )
    )
    return section(
        "classes",
        f"Per-class F1: model_0 against the best student ({len(labels)} classes)",
        body,
        "Weakest classes of the best student first.",
    )


def _nan_low(x: float) -> float:
    return -1.0 if math.isnan(x) else x


def _delta_cell(delta: float) -> str:
    css = delta_class(delta if math.isfinite(delta) else None)
    return f'<td class="num {css}" data-v="{_sortable(delta)}">{signed(delta)}</td>'


def _sortable(x: float) -> str:
    return repr(x) if math.isfinite(x) else "-1e308"


def _class_dots(labels: list[str], f0: dict[str, float], fb: dict[str, float], best: int) -> str:
    order = sorted(labels, key=lambda c: (_nan_low(fb[c]), _nan_low(f0[c])))
    series = [
        Series("model_0", [(float(i), f0[c]) for i, c in enumerate(order)], PALETTE[1]),
        Series(f"best (step {best})", [(float(i), fb[c]) for i, c in enumerate(order)], PALETTE[0]),
    ]
    chart = line_chart(
        series,
        title="F1 of every class, ranked by the best student's F1",
        x_label="class rank",
        y_range=(0.0, 1.0),
        lines=False,
        width=1120,
        height=220,
    )
    return f"<figure>{chart}{legend(series)}</figure>"


def _movers(labels: list[str], f0: dict[str, float], fb: dict[str, float]) -> str:
    deltas = [(fb[c] - f0[c], c) for c in labels if math.isfinite(fb[c] - f0[c])]
    gains = [d for d in sorted(deltas, key=lambda d: (-d[0], d[1])) if d[0] > 0][:TOP_MOVERS]
    losses = [d for d in sorted(deltas) if d[0] < 0][:TOP_MOVERS]

    def listing(title: str, items: list[tuple[float, str]], css: str) -> str:
        entries = (
            "".join(
                f'<li><span class="{css}">{signed(d)}</span> {esc(c)} '
                f'<span class="note">({f0[c]:.2f} → {fb[c]:.2f})</span></li>'
                for d, c in items
            )
            or '<li class="note">none</li>'
        )
        return f"<div><h3>{esc(title)}</h3><ol>{entries}</ol></div>"

    return (
        '<div class="movers">'
        + listing("Top gains", gains, "up")
        + listing("Top losses", losses, "down")
        + "</div>"
    )


def confusion_section(run: RunData) -> str:
    step = run.best_step
    confusion = run.confusion(step)
    if confusion is None:
        return section(
            "confusion",
            "Confusions",
            '<p class="note">This run\'s metrics.jsonl has no <code>val_confusion</code> field, '
            "so there is no confusion matrix to show.</p>",
        )
    labels = confusion.labels
    if len(labels) <= MATRIX_MAX_CLASSES:
        body = _matrix(labels, confusion.cells)
        title = f"Confusion matrix of the best student (step {step}, validation)"
    else:
        body = _top_confusions(labels, confusion.cells)
        title = f"Top confusions of the best student (step {step}, validation)"
    return section("confusion", title, body, "Rows: true class. Columns: predicted class.")


def _matrix(labels: tuple[str, ...], cells: tuple[tuple[int, int, int], ...]) -> str:
    grid = [[0] * len(labels) for _ in labels]
    for i, j, n in cells:
        grid[i][j] = n
    peak = max((n for i, j, n in cells if i != j), default=0)
    rows = []
    for i, label in enumerate(labels):
        total = sum(grid[i])
        out = [f'<th class="label">{esc(label)}</th>']
        for j, n in enumerate(grid[i]):
            if i == j:
                out.append(heat_cell(n, total, "0,158,115"))
            else:
                out.append(heat_cell(n, peak, "213,94,0"))
        rows.append(row(out))
    head = "".join(f'<th class="vertical"><span>{esc(label)}</span></th>' for label in labels)
    return (
        '<div class="scroll"><table class="matrix"><thead><tr><th>true \\ predicted</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _top_confusions(labels: tuple[str, ...], cells: tuple[tuple[int, int, int], ...]) -> str:
    totals: Counter[int] = Counter()
    for i, _, n in cells:
        totals[i] += n
    off = sorted((c for c in cells if c[0] != c[1]), key=lambda c: (-c[2], c[0], c[1]))
    rows = [
        row(
            [
                cell(labels[i], css="label"),
                cell(labels[j], css="label"),
                cell(n, numeric=True),
                cell(n / totals[i] if totals[i] else 0.0, numeric=True),
            ]
        )
        for i, j, n in off[:TOP_CONFUSIONS]
    ]
    if not rows:
        return "<p>No confusions: every validation sample is right.</p>"
    headers = ["true class", "predicted as", "samples", "share of the true class"]
    return table(headers, rows, sortable=True, numeric=[False, False, True, True])
