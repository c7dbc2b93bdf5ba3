"""The order images are numbered in, shared by the window, exports and the command line.

Stacks are sorted along the slice normal (geometry, MPR and AI rely on it), but a clinician
counts images as the scanner numbered them: "image 1" is the first acquired (Instance Number,
then frame). Where that runs against the stack, image ``n`` is stack index ``N - n``. The
window's corner, the exported corner text, ``radviewer export --slice K`` and exported file
numbers all use this one rule, so image 37 on screen is image 37 in every file.
"""

from __future__ import annotations


def acquired_reversed(stack) -> bool:
    """Whether acquisition order (Instance Number, then frame) runs against the stack order
    (ascending along the slice normal): then image 1 is the stack's last slice."""
    first, last = stack.frames[0], stack.frames[-1]
    a = (first.header.instance_number or 0, first.frame)
    b = (last.header.instance_number or 0, last.frame)
    return a > b


def image_position(stack, k: int, reversed_: bool | None = None) -> int:
    """0-based image position (as acquired) of stack index ``k``; the mapping is its own
    inverse, so it also turns an image position into a stack index."""
    rev = acquired_reversed(stack) if reversed_ is None else reversed_
    return stack.n_frames - 1 - k if rev else k
