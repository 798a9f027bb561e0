"""Small hand-made SVG charts: lines over KD steps and stacked bars, nothing to download.

Every label is escaped; points carry a ``<title>`` so a browser shows the value on hover
without any script.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Colour-blind-safe palette (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 14, 30, 42


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    color: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Frame:
    """Maps data coordinates to pixels inside the plot area."""

    width: int
    height: int
    x_min: float
    x_max: float
    y_min: float
    y_max: float

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        inner = self.width - MARGIN_LEFT - MARGIN_RIGHT
        return MARGIN_LEFT + (value - self.x_min) / span * inner

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        inner = self.height - MARGIN_TOP - MARGIN_BOTTOM
        return self.height - MARGIN_BOTTOM - (value - self.y_min) / span * inner


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{MARGIN_LEFT}" y="18" class="chart-title">{escape(title)}</text>',
    ]


def _axes(
    frame: Frame, x_ticks: Sequence[float], y_ticks: Sequence[float], x_label: str
) -> list[str]:
    out: list[str] = []
    left, right = MARGIN_LEFT, frame.width - MARGIN_RIGHT
    bottom = frame.height - MARGIN_BOTTOM
    for tick in y_ticks:
        y = frame.y(tick)
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" '
            f'text-anchor="end">{fmt(tick)}</text>'
        )
    for tick in x_ticks:
        x = frame.x(tick)
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" class="tick" '
            f'text-anchor="middle">{fmt(tick)}</text>'
        )
    out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" class="axis"/>')
    out.append(
        f'<text x="{(left + right) / 2:.1f}" y="{frame.height - 6}" class="axis-label" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    return out


def legend(series: Sequence[Series]) -> str:
    """An HTML legend (it wraps, unlike SVG text) to put under a chart."""
    items = []
    for s in series:
        style = "dashed" if s.dashed else "solid"
        items.append(
            f'<span><i style="border-top:3px {style} {s.color}"></i>{escape(s.name)}</span>'
        )
    return f'<div class="legend">{"".join(items)}</div>'


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "KD step",
    mark_x: float | None = None,
    mark_label: str = "",
    y_range: tuple[float, float] | None = None,
    lines: bool = True,
    width: int = 560,
    height: int = 260,
) -> str:
    """Series over x; ``mark_x`` draws a labelled vertical marker (the best step). The legend
    is HTML: see :func:`legend`."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if math.isfinite(y)]
    if not xs or not ys:
        return _empty(title, width)
    low, high = y_range if y_range else (min(ys), max(ys))
    if not y_range:
        pad = (high - low) * 0.08 or 0.05
        low, high = low - pad, high + pad
    y_ticks = nice_ticks(low, high)
    frame = Frame(width, height, min(xs), max(xs), min(y_ticks[0], low), max(y_ticks[-1], high))
    x_ticks = sorted(set(xs)) if len(set(xs)) <= 16 else nice_ticks(min(xs), max(xs), 8)
    out = _open(width, height, title) + _axes(frame, x_ticks, y_ticks, x_label)
    if mark_x is not None:
        x = frame.x(mark_x)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{height - MARGIN_BOTTOM}" '
            f'class="best-line"/>{_mark_text(x, width, mark_label)}'
        )
    for s in series:
        out.extend(_series(frame, s, lines=lines))
    out.append("</svg>")
    return "".join(out)


def _mark_text(x: float, width: int, label: str) -> str:
    """The marker's label, on the side of the line with room for it."""
    room_right = width - MARGIN_RIGHT - x > 7 * len(label)
    anchor, dx = ("start", 4) if room_right else ("end", -4)
    return (
        f'<text x="{x + dx:.1f}" y="{MARGIN_TOP + 12}" class="best-label" '
        f'text-anchor="{anchor}">{escape(label)}</text>'
    )


def _series(frame: Frame, s: Series, *, lines: bool) -> list[str]:
    points = [(x, y) for x, y in s.points if math.isfinite(y)]
    out: list[str] = []
    if lines and len(points) > 1:
        path = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>'
        )
    radius = 3.2 if lines else 2.2
    for x, y in points:
        out.append(
            f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="{radius}" fill="{s.color}">'
            f"<title>{escape(s.name)}: {fmt(x)} → {y:.4g}</title></circle>"
        )
    return out


def stacked_bars(
    categories: Sequence[str],
    stacks: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    x_label: str = "KD step",
    width: int = 560,
    height: int = 260,
) -> str:
    """One bar per category, split into ``(name, values, colour)`` stacks."""
    totals = [sum(values[i] for _, values, _ in stacks) for i in range(len(categories))]
    if not categories or not any(totals):
        return _empty(title, width)
    y_ticks = nice_ticks(0.0, max(totals))
    frame = Frame(width, height, -0.5, len(categories) - 0.5, 0.0, y_ticks[-1])
    out = _open(width, height, title) + _axes(frame, [], y_ticks, x_label)
    slot = (width - MARGIN_LEFT - MARGIN_RIGHT) / len(categories)
    bar = max(2.0, min(40.0, slot * 0.7))
    for i, category in enumerate(categories):
        x = frame.x(i)
        if len(categories) <= 24 or i % math.ceil(len(categories) / 24) == 0:
            out.append(
                f'<text x="{x:.1f}" y="{height - MARGIN_BOTTOM + 16}" class="tick" '
                f'text-anchor="middle">{escape(category)}</text>'
            )
        base = 0.0
        for name, values, color in stacks:
            value = values[i]
            if value <= 0:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            out.append(
                f'<rect x="{x - bar / 2:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                f'height="{max(0.5, bottom - top):.1f}" fill="{color}"><title>{escape(category)}: '
                f"{escape(name)} {fmt(value)}</title></rect>"
            )
            base += value
    out.append("</svg>")
    return "".join(out)


def _empty(title: str, width: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} 60" width="{width}" height="60" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{MARGIN_LEFT}" y="18" class="chart-title">{escape(title)}</text>'
        f'<text x="{MARGIN_LEFT}" y="44" class="tick">no data yet</text></svg>'
    )
