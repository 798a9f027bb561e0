"""HTML building blocks for the report. Every value goes through :func:`esc`: run data (sample
texts, labels, prompts, reasons) is data, never markup."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def num(value: Any, digits: int = 3) -> str:
    """A number for a table cell; ``-`` when missing."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def money(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def signed(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{digits}f}"


def delta_class(value: float | None) -> str:
    if value is None or abs(value) < 1e-9:
        return "flat"
    return "up" if value > 0 else "down"


def sort_value(value: Any) -> str:
    """The ``data-v`` attribute a sortable column sorts by."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value)) if math.isfinite(value) else "-1e308"
    return esc(value)


def section(anchor: str, title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{note_html}{body}</section>'


def bar_cell(value: float | None, color: str = "#0072B2") -> str:
    """A table cell with the value and an inline bar of its size in [0, 1]."""
    if value is None or not math.isfinite(value):
        return '<td data-v="-1">-</td>'
    width = max(0.0, min(1.0, value)) * 100
    return (
        f'<td data-v="{value!r}" class="barcell"><span class="bar" '
        f'style="width:{width:.1f}%;background:{color}"></span>'
        f'<span class="val">{value:.3f}</span></td>'
    )


def table(
    headers: Sequence[str],
    rows: Iterable[str],
    *,
    table_id: str = "",
    sortable: bool = False,
    scroll: bool = False,
    numeric: Sequence[bool] = (),
) -> str:
    """``rows`` are ready ``<tr>`` strings; headers are escaped here."""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    cls = "sortable" if sortable else ""
    head = "".join(
        f"<th{' class=num' if i < len(numeric) and numeric[i] else ''}>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = (
        f'<table{ident} class="{cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return f'<div class="scroll">{body}</div>' if scroll else body


def row(cells: Iterable[str], attrs: Mapping[str, str] | None = None) -> str:
    extra = "".join(f' {key}="{esc(value)}"' for key, value in (attrs or {}).items())
    return f"<tr{extra}>{''.join(cells)}</tr>"


def cell(value: Any, *, numeric: bool = False, digits: int = 3, css: str = "") -> str:
    text = num(value, digits) if numeric else esc(value)
    classes = " ".join(c for c in ("num" if numeric else "", css) if c)
    cls = f' class="{classes}"' if classes else ""
    return f'<td data-v="{sort_value(value)}"{cls}>{text}</td>'


def heat_cell(count: int, peak: int, rgb: str = "0,114,178") -> str:
    """A count cell shaded by its share of ``peak``."""
    if count <= 0:
        return '<td class="num heat" data-v="0"></td>'
    alpha = 0.12 + 0.78 * (count / peak if peak else 0)
    ink = ";color:#fff" if alpha > 0.55 else ""
    return (
        f'<td class="num heat" data-v="{count}" '
        f'style="background:rgba({rgb},{alpha:.2f}){ink}">{count}</td>'
    )
