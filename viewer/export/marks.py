"""The many-point measurements drawn into an export (PIL): angle, Cobb angle, polygon and
freehand outlines, arrow. Points are output pixel coordinates (x, y)."""

from __future__ import annotations

import math

from viewer.display import shapes


def draw_many_point(draw, kind: str, pts: list[tuple[float, float]], lw: int,
                    fill: tuple[int, int, int]) -> tuple[float, float]:
    """Angle, Cobb, polygon, freehand or arrow through output points; returns the corner its
    label goes beside (the lower right of its points; an arrow's tail)."""
    if kind == "cobb":
        lines = [pts[:2], pts[2:]]  # two separate lines
    elif kind in shapes.OUTLINES:
        lines = [pts + pts[:1]]
    else:
        lines = [pts]
    for line in lines:
        draw.line(line, fill=fill, width=lw, joint="curve")
    if kind == "arrow":
        (xt, yt), (xh, yh) = pts
        a = math.atan2(yt - yh, xt - xh)
        n = 6 * lw  # head length (px), as on screen at the usual sizes
        wing = [(xh + n * math.cos(a + s), yh + n * math.sin(a + s)) for s in (-0.45, 0.45)]
        draw.polygon([(xh, yh), *wing], fill=fill)
        return xt, yt
    return max(x for x, _ in pts), max(y for _, y in pts)
