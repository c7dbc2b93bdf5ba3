"""Colour maps readers expect for PET and functional images, as 256x4 uint8 RGBA tables.

A table is indexed by the 8-bit windowed value (0 = window bottom, 255 = top), like the grey
ramp it replaces; display settings never change data. "hot iron" is the DICOM well-known
Hot Iron palette (PS3.6 Annex B, SOP Instance UID 1.2.840.10008.1.5.1) as pydicom ships it;
"rainbow" is the hue sweep blue -> green -> red most PET workstations call Rainbow.
"""

from __future__ import annotations

import colorsys
from functools import cache

import numpy as np

COLORMAPS = ("grey", "inverted grey", "hot iron", "rainbow")
HOT_IRON_UID = "1.2.840.10008.1.5.1"  # Hot Iron Color Palette SOP Instance (PS3.6 Annex B)


@cache
def _table(name: str) -> np.ndarray:
    ramp = np.arange(256, dtype=np.uint8)
    if name == "grey":
        rgb = np.repeat(ramp[:, None], 3, axis=1)
    elif name == "inverted grey":
        rgb = np.repeat(ramp[::-1, None], 3, axis=1)
    elif name == "hot iron":
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(ramp, palette=HOT_IRON_UID).astype(np.uint8)
    elif name == "rainbow":
        # Hue 240 deg (blue) at the bottom to 0 deg (red) at the top, full saturation; the
        # first entry is black so that the background (below the window) stays black.
        rgb = np.array([colorsys.hsv_to_rgb((1 - i / 255) * 2 / 3, 1.0, 1.0)
                        for i in range(256)]) * 255
        rgb = np.round(rgb).astype(np.uint8)
        rgb[0] = 0
    else:
        raise ValueError(f"unknown colour map {name!r}; choose one of {COLORMAPS}")
    out = np.empty((256, 4), np.uint8)
    out[:, :3] = rgb
    out[:, 3] = 255
    out.setflags(write=False)
    return out


def colormap_lut(name: str) -> np.ndarray:
    """The 256x4 uint8 RGBA table of colour map ``name`` (one of :data:`COLORMAPS`),
    read-only: index 0 is the window bottom, 255 its top."""
    return _table(name)


def apply_colormap(grey: np.ndarray, name: str) -> np.ndarray:
    """``grey`` (uint8 windowed values, any shape) -> RGB uint8 (shape + (3,))."""
    return colormap_lut(name)[grey][..., :3]


def colour_bar(name: str, height: int = 256, width: int = 16) -> np.ndarray:
    """A vertical colour bar image ``(height, width, 3)`` uint8: the window top (entry 255)
    at row 0, its bottom (entry 0) at the last row."""
    if height < 2 or width < 1:
        raise ValueError(f"a colour bar needs height >= 2 and width >= 1, not {height}x{width}")
    idx = np.round(np.linspace(255, 0, height)).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(apply_colormap(idx, name)[:, None, :], width, axis=1))
