"""Annotated images without Qt: the windowed slice, the label overlay, measurements, corner
text, orientation letters, a scale bar and the AI legend, drawn with numpy and Pillow.

The command line and the window's "native resolution" export both use :func:`render`, so
they give the same pixels. Arrays are (rows, columns) in the source image's orientation;
``spacing`` is (row mm, column mm). The output has square pixels: anisotropic images are
stretched along their coarser axis (nearest neighbour, so no value is invented).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from viewer.display import shapes
from viewer.display.measure import Measurement
from viewer.display.orient import ViewTransform
from viewer.display.text import ELLIPSIS, clean
from viewer.display.window import Window, apply_window
from viewer.export.marks import draw_many_point

TEXT_RGB = (240, 230, 140)  # the window's corner text (#f0e68c)
MEASURE_RGB = (255, 215, 0)
NOTICE_RGB = (240, 160, 64)
PANEL_RGB = (32, 32, 36)
MAX_LINES = 8  # lines of one text block (a measurement, a corner); legend fields get fewer


@dataclass
class Legend:
    """What the legend beside the image says: provenance first, then labels or scores."""

    title: str  # model (or SEG) name and version
    source: str  # "on <series>"
    notice: str  # research-use notice
    labels: list[tuple[tuple[int, int, int], str]] = field(default_factory=list)
    scores_title: str = ""
    scores: list[tuple[str, float, tuple[int, int, int], bool]] = field(default_factory=list)
    # (name, probability 0..1, colour, is the top label)
    calibrated: bool = True  # False: scores are shown as 0.87, not 87 %
    flags: list[str] = field(default_factory=list)  # warnings shown under the notice


@dataclass
class Scene:
    """Everything drawn for one exported view."""

    real: np.ndarray  # (rows, cols) real-world values (HU for CT), or (rows, cols, 3) uint8
    # RGB for colour images (drawn as stored); source orientation
    window: Window | None  # None for colour
    spacing: tuple[float, float]  # (row mm, column mm) of ``real``; (1, 1) when in pixels
    # What the scale bar's millimetres are ("" plain, "at detector", ...); None: no scale bar,
    # because ``spacing`` is no real millimetre (pixels, or per ultrasound region).
    scale_note: str | None = ""
    transform: ViewTransform = field(default_factory=ViewTransform)
    invert: bool = False  # MONOCHROME1 or the user's invert, already combined
    labels: np.ndarray | None = None  # uint8 (rows, cols), source orientation
    lut: np.ndarray | None = None  # 256x4 RGBA for ``labels``
    outline: bool = False
    measurements: list[tuple[Measurement, str]] = field(default_factory=list)
    corners: dict[str, list[str]] = field(default_factory=dict)
    letters: dict[str, str] = field(default_factory=dict)
    legend: Legend | None = None


def label_lut(result, visible: set[int], opacity: float,
              colors: dict[int, tuple[int, int, int]] | None = None) -> np.ndarray:
    """256x4 RGBA lookup table for ``result.labels``: each visible label in its colour
    (``colors`` overrides the model's) at ``opacity`` (0..1); 0 and hidden labels clear."""
    colors = colors or {}
    lut = np.zeros((256, 4), dtype=np.uint8)
    for lab in result.labels:
        if lab.value != 0 and lab.value in visible:
            lut[lab.value] = (*colors.get(lab.value, lab.color), int(round(255 * opacity)))
    return lut


def outline(labels: np.ndarray) -> np.ndarray:
    """Keep only label pixels on a boundary (4-neighbourhood), for the outline style."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return np.where(edge, labels, 0).astype(np.uint8)


def blend(grey: np.ndarray, labels: np.ndarray | None, lut: np.ndarray | None,
          draw_outline: bool = False) -> np.ndarray:
    """(rows, cols, 3) uint8: ``grey`` with each label's RGBA from ``lut`` alpha-blended.

    One table lookup per pixel: every (label, grey) pair's blended colour is precomputed
    (256 x 256 x 3 bytes), which is several times faster than blending the masked pixels.
    """
    if labels is None or lut is None:
        return np.repeat(grey[..., None], 3, axis=2)
    if draw_outline:
        labels = outline(labels)
    a = lut[:, 3:4].astype(np.uint32)[:, None, :]  # (256, 1, 1)
    g = np.arange(256, dtype=np.uint32)[None, :, None]  # (1, 256, 1)
    c = lut[:, :3].astype(np.uint32)[:, None, :]  # (256, 1, 3)
    table = ((g * (255 - a) + c * a + 127) // 255).astype(np.uint8).reshape(-1, 3)
    index = labels.astype(np.uint16) << 8
    index |= grey
    return np.take(table, index, axis=0)  # same as table[index], ~1.5x faster (no fancy path)


def blend_colour(rgb: np.ndarray, labels: np.ndarray | None, lut: np.ndarray | None,
                 draw_outline: bool = False) -> np.ndarray:
    """:func:`blend` for a colour image: ``rgb`` ((rows, cols, 3) uint8) with each label's
    RGBA from ``lut`` alpha-blended; the image itself is never changed."""
    if labels is None or lut is None:
        return rgb
    if draw_outline:
        labels = outline(labels)
    a = lut[labels, 3:4].astype(np.uint16)
    out = (rgb.astype(np.uint16) * (255 - a) + lut[labels, :3] * a + 127) // 255
    return out.astype(np.uint8)


# Pillow's bundled font has no glyph for these; draw the closest ASCII instead of a box.
_NO_GLYPH = str.maketrans({"²": "2", "³": "3", "—": "-", "–": "-", "×": "x", "µ": "u"})


def _safe(text: str) -> str:
    return text.translate(_NO_GLYPH)


def _line(text: str) -> str:
    """One drawable line: cleaned (bounded length, no controls) and with ASCII stand-ins."""
    return _safe(clean(text))


def fit(text: str, font, width: float) -> str:
    """``text`` (one line) cut with an ellipsis to at most ``width`` pixels in ``font``.

    A binary search over the cut point: about log2(len) measurements of at most
    ``len(text)`` characters each, instead of one measurement per removed character
    (quadratic: a 16,000-character description took minutes).
    """
    if font.getlength(text) <= width:
        return text
    return text[:_fitting(text, font, width, ELLIPSIS)].rstrip() + ELLIPSIS


def _fitting(text: str, font, width: float, tail: str = "") -> int:
    """The largest ``k`` with ``text[:k] + tail`` at most ``width`` pixels (0 if none)."""
    lo, hi = 0, len(text) + 1  # text[:lo] + tail fits (or lo == 0); text[:hi] + tail not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if font.getlength(text[:mid] + tail) <= width:
            lo = mid
        else:
            hi = mid
    return lo


def wrap(text: str, font, width: float, max_lines: int) -> list[str]:
    """``text`` cleaned and wrapped at spaces into at most ``max_lines`` lines of at most
    ``width`` pixels; a word wider than a line is broken, and cut text ends in an ellipsis."""
    lines: list[str] = []
    cur = ""
    for word in _line(text).split(" "):
        cand = f"{cur} {word}" if cur else word
        if font.getlength(cand) <= width:
            cur = cand
            continue
        if cur:
            lines.append(cur)
        cur = word
        while cur and font.getlength(cur) > width and len(lines) <= max_lines:
            k = max(1, _fitting(cur, font, width))
            lines.append(cur[:k])
            cur = cur[k:]
        if len(lines) > max_lines:
            break
    if cur:
        lines.append(cur)
    if len(lines) > max_lines:
        last = fit(lines[max_lines - 1], font, width - font.getlength(ELLIPSIS))
        lines = lines[: max_lines - 1] + [last if last.endswith(ELLIPSIS) else last + ELLIPSIS]
    return lines


@lru_cache(maxsize=16)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled FreeType font: no files


def _nice_length(max_mm: float) -> float:
    """The largest 1-2-5 length (mm) not above ``max_mm``."""
    if max_mm <= 0:
        return 0.0
    e = 10 ** math.floor(math.log10(max_mm))
    for m in (5, 2, 1):
        if m * e <= max_mm:
            return m * e
    return e


def output_size(shape: tuple[int, int], spacing: tuple[float, float],
                scale: int) -> tuple[int, int]:
    """(height, width) of the rendered image of a displayed image of ``shape`` (rows, cols)
    with display ``spacing``: square pixels of the finer spacing, times ``scale``."""
    r_mm, c_mm = spacing
    base = min(r_mm, c_mm)
    return (max(1, round(shape[0] * r_mm / base * scale)),
            max(1, round(shape[1] * c_mm / base * scale)))


def render_image(scene: Scene, scale: int = 1) -> tuple[np.ndarray, float]:
    """The windowed, overlaid, oriented image without text: ``(rgb, mm per output pixel)``."""
    if scene.real.ndim == 3:  # colour: as stored, no window
        rgb = blend_colour(scene.real, scene.labels, scene.lut, scene.outline)
    else:
        grey = apply_window(scene.real, scene.window)
        if scene.invert:
            grey = 255 - grey
        rgb = blend(grey, scene.labels, scene.lut, scene.outline)
    rgb = scene.transform.apply(rgb)
    d_spacing = scene.transform.spacing(*scene.spacing)
    h, w = output_size(rgb.shape[:2], d_spacing, scale)
    if (h, w) != rgb.shape[:2]:
        ri = (np.arange(h) * rgb.shape[0]) // h
        ci = (np.arange(w) * rgb.shape[1]) // w
        rgb = rgb[ri[:, None], ci[None, :]]
    return np.ascontiguousarray(rgb), min(d_spacing) / scale


def render(scene: Scene, scale: int = 1) -> np.ndarray:
    """The annotated image, (height, width, 3) uint8, with the legend panel on the right."""
    from PIL import Image, ImageDraw

    img, mm_per_px = render_image(scene, scale)
    h, w = img.shape[:2]
    size = int(np.clip(round(min(w, max(h, 256)) / 38), 11, 30))
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    _draw_measurements(draw, scene, (h, w), size)
    annotate(draw, (h, w), scene.corners, scene.letters,
             mm_per_px if scene.scale_note is not None else None, size, scene.scale_note or "")
    if scene.legend is not None:
        im = add_legend(np.asarray(im), scene.legend, size)
        return im
    return np.asarray(im)


def _text(draw, xy, text: str, size: int, fill=TEXT_RGB, anchor: str = "la",
          width: float | None = None) -> None:
    """Outlined text, each line cut to ``width`` pixels (the image's width by default)."""
    font = _font(size)
    width = max(1.0, draw.im.size[0] if width is None else width)
    lines = [fit(_line(t), font, width) for t in text.split("\n")[:MAX_LINES]]
    draw.multiline_text(xy, "\n".join(lines), font=font, fill=fill, anchor=anchor,
                        stroke_width=max(1, size // 8), stroke_fill=(0, 0, 0), spacing=2)


def annotate(draw, shape: tuple[int, int], corners: dict[str, list[str]],
             letters: dict[str, str], mm_per_px: float | None, size: int,
             scale_note: str = "") -> None:
    """Corner text, orientation letters at the edge midpoints and a scale bar (mm).

    ``mm_per_px`` None draws no scale bar (an image without a real spacing); ``scale_note``
    qualifies its millimetres ("at detector").
    """
    h, w = shape
    pad = max(4, size // 2)
    anchors = {"tl": ((pad, pad), "la"), "tr": ((w - pad, pad), "ra"),
               "bl": ((pad, h - pad), "ld"), "br": ((w - pad, h - pad), "rd")}
    font = _font(size)
    for key, lines in corners.items():
        # Each corner gets at most half the width: long lines are cut with an ellipsis.
        lines = [fit(_line(t), font, max(1.0, w / 2 - 2 * pad)) for t in lines[:MAX_LINES]]
        if lines:
            xy, anchor = anchors[key]
            align = "right" if anchor[0] == "r" else "left"
            draw.multiline_text(xy, _safe("\n".join(lines)), font=_font(size), fill=TEXT_RGB,
                                anchor=anchor, align=align, stroke_width=max(1, size // 8),
                                stroke_fill=(0, 0, 0), spacing=2)
    big = round(size * 1.3)
    spots = {"top": ((w / 2, pad), "ma"), "bottom": ((w / 2, h - pad), "md"),
             "left": ((pad, h / 2), "lm"), "right": ((w - pad, h / 2), "rm")}
    for edge, letter in letters.items():
        if letter:
            xy, anchor = spots[edge]
            _text(draw, xy, letter, big, anchor=anchor)
    if mm_per_px:
        length_mm = _nice_length(0.2 * w * mm_per_px)
        n = round(length_mm / mm_per_px)
        if n >= 8:
            y = h - pad - 2 * size - 6  # above the bottom letter
            x0 = round(w / 2 - n / 2)
            lw = max(2, size // 6)
            for xs, ys in (((x0, y), (x0 + n, y)), ((x0, y - size // 2), (x0, y)),
                           ((x0 + n, y - size // 2), (x0 + n, y))):
                draw.line([xs, ys], fill=(0, 0, 0), width=lw + 2)
                draw.line([xs, ys], fill=TEXT_RGB, width=lw)
            label = f"{length_mm:g} mm ({scale_note})" if scale_note else f"{length_mm:g} mm"
            _text(draw, (w / 2, y - 3), label, size, anchor="md")


def _draw_measurements(draw, scene: Scene, out_shape: tuple[int, int], size: int) -> None:
    src_shape = scene.real.shape[:2]
    d_rows, d_cols = scene.transform.display_shape(src_shape)
    sy, sx = out_shape[0] / d_rows, out_shape[1] / d_cols
    lw = max(2, size // 6)

    def to_out(p):
        x, y = scene.transform.to_display(p[0], p[1], src_shape)
        return x * sx, y * sy

    for m, text in scene.measurements:
        (x0, y0), (x1, y1) = to_out(m.p0), to_out(m.p1)
        if m.kind in shapes.POINTS:
            x1, y1 = draw_many_point(draw, m.kind, [to_out(p) for p in m.pts], lw, MEASURE_RGB)
        elif m.kind == "ruler":
            draw.line([(x0, y0), (x1, y1)], fill=MEASURE_RGB, width=lw)
            for x, y in ((x0, y0), (x1, y1)):
                draw.ellipse([x - lw, y - lw, x + lw, y + lw], fill=MEASURE_RGB)
        else:
            box = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
            if m.kind == "ellipse":
                draw.ellipse(box, outline=MEASURE_RGB, width=lw)
            else:
                draw.rectangle(box, outline=MEASURE_RGB, width=lw)
            x1, y1 = box[2], box[3]
        if text:
            tx = min(x1 + size // 2, out_shape[1] - 4)
            _text(draw, (tx, y1 + 2), text, size, fill=(255, 230, 120),
                  anchor="ra" if tx > out_shape[1] * 0.75 else "la")


def add_legend(img: np.ndarray, legend: Legend, size: int) -> np.ndarray:
    """``img`` with a legend panel to its right (provenance, notice, labels or scores)."""
    from PIL import Image, ImageDraw

    h, w = img.shape[:2]
    pad = max(6, size // 2)
    pw = max(240, size * 17)
    font = _font(size)
    text_w = pw - 2 * pad
    # The free text wrapped to the panel width, a few lines each: a model name or series
    # description from a file must not make the panel taller than the notice.
    lines: list[tuple[str, tuple[int, int, int]]] = []  # (text, colour)
    for text, fill, n in ((legend.title, (255, 255, 255), 3), (legend.source, (200, 200, 200), 3),
                          (legend.notice, NOTICE_RGB, MAX_LINES),
                          *((f"! {f}", NOTICE_RGB, 3) for f in legend.flags)):
        lines += [(t, fill) for t in wrap(text, font, text_w, n)]
    line_h = size + 5
    rows = len(lines) + 1 + len(legend.labels)
    if legend.scores:
        rows += 1 + len(legend.scores)
    ph = max(h, pad * 2 + rows * line_h)
    panel = Image.new("RGB", (w + pw, ph), PANEL_RGB)
    panel.paste(Image.fromarray(img), (0, 0))
    draw = ImageDraw.Draw(panel)
    x, y = w + pad, pad
    for text, fill in lines:
        draw.text((x, y), text, font=font, fill=fill)
        y += line_h
    y += line_h // 2
    for rgb, text in legend.labels:
        draw.rectangle([x, y + 2, x + size, y + size + 2], fill=tuple(rgb), outline=(0, 0, 0))
        draw.text((x + size + pad, y), fit(_line(text), font, text_w - size - pad), font=font,
                  fill=(230, 230, 230))
        y += line_h
    if legend.scores:
        draw.text((x, y), fit(_line(legend.scores_title), font, text_w), font=font,
                  fill=(230, 230, 230))
        y += line_h
        bar_w = pw - 2 * pad
        for name, p, rgb, top in legend.scores:
            draw.rectangle([x, y + 1, x + bar_w, y + size + 3], outline=(90, 90, 90))
            draw.rectangle([x, y + 1, x + round(bar_w * float(np.clip(p, 0, 1))), y + size + 3],
                           fill=tuple(rgb))
            pct = f"  {100 * p:.0f}%" if legend.calibrated else f"  {p:.2f}"
            label = fit(_line(name), font, bar_w - 8 - font.getlength(pct)) + pct
            draw.text((x + 4, y + 1), label, font=font, fill=(255, 255, 255),
                      stroke_width=2 if top else 1, stroke_fill=(0, 0, 0))
            y += line_h + 2
    return np.asarray(panel)
