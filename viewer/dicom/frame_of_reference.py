"""Frame of Reference UIDs (0020,0052) of a stack, and whether its slices are one rigid stack.

Some de-identification pipelines (LIDC-IDRI among them) give every slice of a series its own
Frame of Reference UID, although the slices were acquired together. Objects that must name one
frame of reference for all their source images (a DICOM SEG) cannot be built on such a series
unless the slices are shown to be one geometric stack: same orientation, parallel, evenly spaced
along the normal, and on one line in-plane (no slice shifted sideways). :func:`one_stack_reason`
checks that from the headers alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from viewer.dicom import geometry
from viewer.numeric import median

if TYPE_CHECKING:
    from viewer.dicom.stacks import Stack

ORIENTATION_TOL = 1e-4  # direction cosines
SPACING_REL_TOL = 0.01  # of the median slice spacing
PIXEL_SPACING_TOL = 1e-4  # mm


def reference_uids(stack: Stack) -> list[str]:
    """The distinct Frame of Reference UIDs of ``stack``'s frames, in stack order ("" for a
    frame without one)."""
    return list(dict.fromkeys(f.header.frame_of_reference_uid for f in stack.frames))


def one_stack_reason(stack: Stack) -> str:
    """"" when ``stack``'s slices form one geometric stack (see the module docstring), else
    what breaks it, in words ("slice 12 is shifted 3.0 mm in-plane")."""
    frames = stack.frames
    if stack.orientation is None or any(f.position is None or f.orientation is None
                                        for f in frames):
        return "slices without position or orientation"
    o0 = np.asarray(stack.orientation, float)
    for k, f in enumerate(frames):
        if not np.allclose(np.asarray(f.orientation, float), o0, atol=ORIENTATION_TOL):
            return f"slice {k + 1} has another orientation"
        ps, ps0 = f.header.pixel_spacing, stack.first.pixel_spacing
        if ps is not None and ps0 is not None and not np.allclose(ps, ps0,
                                                                  atol=PIXEL_SPACING_TOL):
            return f"slice {k + 1} has another pixel spacing"
    if len(frames) < 2:
        return ""
    pos = np.array([f.position for f in frames], float)  # (slices, xyz) mm
    normal = geometry.slice_normal(o0)
    d = np.diff(pos @ normal)
    spacing = float(median(d))
    if spacing <= 0:
        return "slices share a position"
    bad = np.flatnonzero(np.abs(d - spacing) > SPACING_REL_TOL * spacing)
    if bad.size:
        return f"uneven slice spacing after slice {int(bad[0]) + 1}"
    # In-plane: every slice's origin on the line from the first to the last (a gantry tilt
    # keeps a straight line; a slice shifted sideways does not).
    step = (pos[-1] - pos[0]) / (len(frames) - 1)
    off = pos - (pos[0] + np.arange(len(frames))[:, None] * step)
    half_pixel = 0.5 * min(stack.spacing[1:]) if stack.spacing else 0.5
    k = int(np.argmax(np.linalg.norm(off, axis=1)))
    if np.linalg.norm(off[k]) > half_pixel:
        return f"slice {k + 1} is shifted {np.linalg.norm(off[k]):.1f} mm in-plane"
    return ""
