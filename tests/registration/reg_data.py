"""The sample study's T1 and T2 as real-valued volumes, loaded once per session."""

from __future__ import annotations

import numpy as np

from viewer.dicom.pixels import StackPixels, to_real_volume


def real_volume(stack) -> np.ndarray:
    """The stack's volume (slice, row, column) in real values, float32."""
    vol = StackPixels(stack).load_volume()
    return to_real_volume(vol, [f.header for f in stack.frames]).astype(np.float32)


def rotation_deg(m: np.ndarray) -> float:
    """The rotation angle (degrees) of the 3x3 part of a rigid 4x4 matrix."""
    c = (np.trace(m[:3, :3]) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def rigid(angle_deg: float, axis: int, shift_mm) -> np.ndarray:
    """4x4 rotation by ``angle_deg`` about patient axis ``axis`` (0 x, 1 y, 2 z) through the
    origin, then a shift (mm)."""
    t = np.radians(angle_deg)
    c, s = np.cos(t), np.sin(t)
    a, b = [i for i in range(3) if i != axis]
    m = np.eye(4)
    m[a, a], m[a, b], m[b, a], m[b, b] = c, -s, s, c
    m[:3, 3] = shift_mm
    return m
