"""Header text made safe to draw: control characters out, length capped before any layout.

DICOM strings come from strangers' files: a Series Description can hold 16,000 characters,
escape sequences, NULs, line breaks or bidirectional overrides. Everything drawn into an image
or onto a screen goes through :func:`clean` first, so layout work is bounded by
``MAX_CHARS`` whatever the file says, and a crafted string cannot move or reverse other text.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 256  # wider than any corner or legend line at the smallest font size
ELLIPSIS = "…"

# Cc: C0/C1 controls (NUL, ESC, CR, LF, TAB...); Cf: format characters (bidi overrides,
# zero-width joiners); Zl/Zp: line and paragraph separators; Cs: lone surrogates that
# undecodable bytes can leave behind.
_DROP = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))
_SPACE = re.compile(r"\s+")


def clean(text: object, max_chars: int = MAX_CHARS) -> str:
    """``text`` as one drawable line: whitespace and line breaks become single spaces, other
    control and format characters are dropped, and more than ``max_chars`` characters are
    cut with an ellipsis (the result has at most ``max_chars`` characters)."""
    s = str(text)
    # Look at a bounded prefix only: each kept character is at most 1 output character, and
    # runs of whitespace collapse, so 4x the cap is plenty to fill ``max_chars``.
    head = s[: 4 * max_chars + 4]
    out = []
    for ch in head:
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) not in _DROP:
            out.append(ch)
    line = _SPACE.sub(" ", "".join(out)).strip()
    if len(line) > max_chars or (len(s) > len(head) and line):
        line = line[: max(0, max_chars - 1)].rstrip() + ELLIPSIS
    return line


def printable(text: str) -> str:
    """``text`` with control and format characters dropped (terminal escape sequences, bidi
    overrides, NUL), line breaks and tabs kept: header text printed to a terminal."""
    return "".join(ch for ch in text
                   if ch in "\n\t" or unicodedata.category(ch) not in _DROP)


def elide(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= n else text[: max(0, n - 1)] + ELLIPSIS
