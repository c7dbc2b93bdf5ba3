"""Display orientation of a 2-D image: quarter turns and flips, never resampling.

A :class:`ViewTransform` first rotates the image clockwise by ``quarter_turns`` quarter turns,
then mirrors it left-right when ``flip_h``. The eight combinations form the dihedral group, so
any sequence of rotate / flip commands reduces to one transform. Points are continuous pixel
coordinates ``(x, y)`` = (column, row), pixel centres at ``+0.5``, origin top-left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ViewTransform:
    quarter_turns: int = 0  # clockwise, 0..3
    flip_h: bool = False

    @property
    def is_identity(self) -> bool:
        return self.quarter_turns % 4 == 0 and not self.flip_h

    # Composition: the new operation is applied after the current transform. F R = R^-1 F.
    def rotated(self, clockwise: bool = True) -> ViewTransform:
        d = 1 if clockwise else -1
        q = self.quarter_turns - d if self.flip_h else self.quarter_turns + d
        return ViewTransform(q % 4, self.flip_h)

    def flipped_horizontal(self) -> ViewTransform:
        return ViewTransform(self.quarter_turns, not self.flip_h)

    def flipped_vertical(self) -> ViewTransform:
        # A vertical flip is a half turn followed by a horizontal flip.
        return self.rotated().rotated().flipped_horizontal()

    def apply(self, img: np.ndarray) -> np.ndarray:
        """Displayed image (a view of ``img``; rows and columns are the first two axes)."""
        out = np.rot90(img, k=-(self.quarter_turns % 4), axes=(0, 1))
        return out[:, ::-1] if self.flip_h else out

    def display_shape(self, shape: tuple[int, ...]) -> tuple[int, int]:
        rows, cols = shape[:2]
        return (cols, rows) if self.quarter_turns % 2 else (rows, cols)

    def spacing(self, rows_mm: float, cols_mm: float) -> tuple[float, float]:
        """(row, column) spacing of the displayed image."""
        return (cols_mm, rows_mm) if self.quarter_turns % 2 else (rows_mm, cols_mm)

    def to_display(self, x: float, y: float, shape: tuple[int, ...]) -> tuple[float, float]:
        """Source point -> displayed point, for a source image of ``shape`` (rows, cols)."""
        h, w = shape[:2]
        for _ in range(self.quarter_turns % 4):
            x, y, w, h = h - y, x, h, w  # one clockwise quarter turn
        if self.flip_h:
            x = w - x
        return x, y

    def to_source(self, x: float, y: float, shape: tuple[int, ...]) -> tuple[float, float]:
        """Displayed point -> source point (inverse of :meth:`to_display`)."""
        h, w = shape[:2]
        q = self.quarter_turns % 4
        dh, dw = (w, h) if q % 2 else (h, w)
        if self.flip_h:
            x = dw - x
        for _ in range(q):
            x, y, dw, dh = y, dw - x, dh, dw  # one counter-clockwise quarter turn
        return x, y

    def letters(self, edges: dict[str, str]) -> dict[str, str]:
        """Orientation letters of the screen edges after the transform."""
        out = dict(edges)
        for _ in range(self.quarter_turns % 4):
            # Clockwise: what was at the top goes to the right, and so on.
            out = {"right": out.get("top", ""), "bottom": out.get("right", ""),
                   "left": out.get("bottom", ""), "top": out.get("left", "")}
        if self.flip_h:
            out["left"], out["right"] = out.get("right", ""), out.get("left", "")
        return out
