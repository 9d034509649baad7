"""Charts as inline SVG, drawn on the server: no JavaScript library, the same drawing in the
admin and in a PDF (WeasyPrint renders inline SVG).

Right-to-left pages get a mirrored chart: time runs from right to left and the value axis
stands on the right, as a Persian reader expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Point:
    label: str     # under the column (shown for every ``label_every``-th point)
    value: float
    tooltip: str   # the column's <title>: what a pointer or a screen reader gets


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def column_chart(points: Sequence[Point], *, title: str, rtl: bool = False,
                 width: int = 720, height: int = 220, label_every: int = 5,
                 number: Callable[[float], str] = lambda v: f"{v:g}",
                 colour: str = "#206bc4") -> Markup:
    """A column chart of ``points`` in order (the first point nearest the reading start)."""
    axis, bottom, top = 44, 26, 10
    plot_w, plot_h = width - axis - 8, height - bottom - top
    left = 8 if rtl else axis
    ceiling = nice_ceiling(max((p.value for p in points), default=0))
    step = plot_w / max(len(points), 1)
    bar = max(step * 0.7, 1.0)
    parts = [
        Markup('<svg xmlns="http://www.w3.org/2000/svg" class="postdesk-chart" '
               'viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}" '
               'data-points="{n}" direction="{d}">').format(
            w=width, h=height, t=title, n=len(points), d="rtl" if rtl else "ltr"),
        Markup("<title>{}</title>").format(title),
    ]
    value_x = width - axis + 6 if rtl else axis - 6
    anchor = "start" if rtl else "end"
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(Markup(
            '<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dce1e7" '
            'stroke-width="1"/>').format(x1=left, x2=left + plot_w, y=y))
        parts.append(Markup(
            '<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="#667382" text-anchor="{a}" '
            'dominant-baseline="middle">{v}</text>').format(
            x=value_x, y=y, a=anchor, v=number(ceiling * fraction)))
    for i, point in enumerate(points):
        slot = (len(points) - 1 - i) if rtl else i
        x = left + slot * step + (step - bar) / 2
        h = plot_h * (point.value / ceiling) if ceiling else 0
        parts.append(Markup(
            '<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="1.5" '
            'fill="{c}" data-value="{v}"><title>{t}</title></rect>').format(
            x=x, y=top + plot_h - h, w=bar, h=h, c=colour, v=f"{point.value:g}",
            t=point.tooltip))
        if i % label_every == 0 or i == len(points) - 1:
            parts.append(Markup(
                '<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="#667382" '
                'text-anchor="middle">{label}</text>').format(
                x=x + bar / 2, y=height - 8, label=escape(point.label)))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
