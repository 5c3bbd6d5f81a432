"""Charts for the portfolio report: Mermaid blocks for markdown (GitLab renders them) and inline
SVG for the HTML page. Pure string building; every label is escaped for its target."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from escbot.render import templates_dir

RAG_COLORS = {"red": "#d9534f", "yellow": "#f0ad4e", "green": "#5cb85c", "unclassified": "#9aa0a6"}
OPENED_COLOR = "#4a6fa5"
CLOSED_COLOR = "#8fbc8f"


# --------------------------------------------------------------------------------------------
# Mermaid.


def _mq(text: str) -> str:
    """A Mermaid double-quoted string: no quotes, no newlines, no markup."""
    clean = " ".join(str(text).split()).replace('"', "'").replace("<", "‹").replace(">", "›")
    return f'"{clean}"'


def mermaid_pie(title: str, slices: Sequence[tuple[str, int]]) -> str:
    lines = [f"pie showData title {' '.join(title.split())}"]
    lines += [f"    {_mq(label)} : {value}" for label, value in slices if value > 0]
    return "\n".join(lines)


def mermaid_bars(
    title: str,
    categories: Sequence[str],
    bars: Sequence[int | float],
    line: Sequence[int | float] | None = None,
    *,
    y_title: str = "",
    y_max: float | None = None,
    horizontal: bool = False,
) -> str:
    top = y_max if y_max is not None else max([1, *bars, *(line or [])])
    lines = [
        "xychart-beta" + (" horizontal" if horizontal else ""),
        f"    title {_mq(title)}",
        "    x-axis [" + ", ".join(_mq(c) for c in categories) + "]",
        f"    y-axis {_mq(y_title)} 0 --> {_num(top)}",
        "    bar [" + ", ".join(_num(v) for v in bars) + "]",
    ]
    if line is not None:
        lines.append("    line [" + ", ".join(_num(v) for v in line) + "]")
    return "\n".join(lines)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


# --------------------------------------------------------------------------------------------
# SVG.


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def svg_pie(title: str, slices: Sequence[tuple[str, int, str]], size: int = 180) -> Markup:
    """A donut chart with a legend; slices are (label, value, colour)."""
    total = sum(v for _, v, _ in slices)
    r, cx, cy, w = size / 2 - 4, size / 2, size / 2, 28
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart pie" role="img" '
        f'viewBox="0 0 {size + 170} {size}" width="{size + 170}" height="{size}">',
        f"<title>{_e(title)}</title>",
    ]
    if total == 0:
        parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{r - w / 2}" fill="none" stroke="#e3e6ea" '
            f'stroke-width="{w}"/>'
        )
    angle = -math.pi / 2
    shown = [(label, v, c) for label, v, c in slices if v > 0]
    for label, value, color in shown:
        if len(shown) == 1:
            parts.append(
                f'<circle cx="{cx}" cy="{cy}" r="{r - w / 2}" fill="none" stroke="{_e(color)}" '
                f'stroke-width="{w}"><title>{_e(label)}: {value}</title></circle>'
            )
            break
        sweep = 2 * math.pi * value / total
        a2 = angle + sweep
        rr = r - w / 2
        x1, y1 = cx + rr * math.cos(angle), cy + rr * math.sin(angle)
        x2, y2 = cx + rr * math.cos(a2), cy + rr * math.sin(a2)
        large = 1 if sweep > math.pi else 0
        parts.append(
            f'<path d="M {x1:.2f} {y1:.2f} A {rr:.2f} {rr:.2f} 0 {large} 1 {x2:.2f} {y2:.2f}" '
            f'fill="none" stroke="{_e(color)}" stroke-width="{w}">'
            f"<title>{_e(label)}: {value}</title></path>"
        )
        angle = a2
    parts.append(
        f'<text x="{cx}" y="{cy + 8}" text-anchor="middle" class="pie-total">{total}</text>'
    )
    for i, (label, value, color) in enumerate(slices):
        y = 30 + i * 26
        parts.append(
            f'<rect x="{size + 14}" y="{y - 11}" width="14" height="14" rx="3" '
            f'fill="{_e(color)}"/><text x="{size + 36}" y="{y}" class="legend">'
            f"{_e(label)}: {value}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def svg_week_bars(
    title: str, weeks: Sequence[tuple[str, int, int]], width: int = 420, height: int = 200
) -> Markup:
    """Grouped bars per ISO week: (week label, opened, closed)."""
    top = max([1, *(o for _, o, _ in weeks), *(c for _, _, c in weeks)])
    left, bottom, plot_h = 30, 30, height - 60
    plot_w = width - left - 10
    group = plot_w / max(1, len(weeks))
    bar = min(22.0, group / 3)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{_e(title)}</title>",
    ]
    for k in range(top + 1) if top <= 6 else range(0, top + 1, max(1, math.ceil(top / 5))):
        y = height - bottom - plot_h * k / top
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{k}</text>'
        )
    for i, (label, opened, closed) in enumerate(weeks):
        x0 = left + i * group + (group - 2 * bar - 4) / 2
        for j, (value, color, what) in enumerate(
            ((opened, OPENED_COLOR, "opened"), (closed, CLOSED_COLOR, "closed"))
        ):
            h = plot_h * value / top
            x = x0 + j * (bar + 4)
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" rx="2" fill="{color}"><title>{_e(label)}: {value} {what}'
                f"</title></rect>"
            )
        parts.append(
            f'<text x="{left + i * group + group / 2:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle" class="axis">{_e(label.split("-")[-1])}</text>'
        )
    parts.append(
        f'<rect x="{left}" y="6" width="12" height="12" rx="2" fill="{OPENED_COLOR}"/>'
        f'<text x="{left + 18}" y="16" class="legend">opened</text>'
        f'<rect x="{left + 86}" y="6" width="12" height="12" rx="2" fill="{CLOSED_COLOR}"/>'
        f'<text x="{left + 104}" y="16" class="legend">closed</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _ratio_color(ratio: float) -> str:
    if ratio >= 0.9:
        return RAG_COLORS["green"]
    if ratio >= 0.6:
        return RAG_COLORS["yellow"]
    return RAG_COLORS["red"]


def svg_hbars(title: str, items: Sequence[tuple[str, float]], width: int = 460) -> Markup:
    """Horizontal 0-100 % bars: (label, ratio 0..1)."""
    row, label_w = 24, 170
    height = max(1, len(items)) * row + 26
    plot_w = width - label_w - 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart hbars" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{_e(title)}</title>",
    ]
    for i, (label, ratio) in enumerate(items):
        y = 6 + i * row
        short = label if len(label) <= 26 else "…" + label[-25:]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" class="axis">'
            f"{_e(short)}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{plot_w}" height="16" rx="3" '
            f'fill="#eef0f3"/>'
            f'<rect x="{label_w}" y="{y + 2}" width="{plot_w * ratio:.1f}" height="16" rx="3" '
            f'fill="{_ratio_color(ratio)}"><title>{_e(label)}: {round(ratio * 100)}%</title>'
            f"</rect>"
            f'<text x="{label_w + plot_w + 6}" y="{y + 14}" class="axis">'
            f"{round(ratio * 100)}%</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# --------------------------------------------------------------------------------------------


@cache
def html_environment() -> jinja2.Environment:
    """Jinja for HTML templates: autoescaped, strict."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
