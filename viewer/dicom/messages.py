"""Wording of problems for a clinician: one line, what is wrong and what would fix it.

Decoder libraries (pydicom's plugins, numpy) explain failures in their own terms ("could not
broadcast input array from shape ...", one paragraph per plugin). These helpers turn that
text into one short line with no library internals, and say what a folder held when it held
no image. No Qt; no patient data (only object kinds and counts, never header strings).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

MAX_REASON = 100  # characters of a decoder's own reason that are kept

REEXPORT = "re-export the series from the scanner or PACS"

# Library wording -> plain wording. The first pattern that matches wins.
_PLAIN: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), text)
    for p, text in (
        (r"could not broadcast|cannot reshape array|shape mismatch|header says \(",
         "decoded frame size differs from Rows x Columns in the header"),
        (r"truncat|not enough (data|bytes)|buffer (is )?too small|unexpected end|premature end"
         r"|insufficient data|out of data",
         "pixel data is cut short (file incomplete)"),
        (r"no (pixel data|\(7fe0,0010\))", "file holds no pixel data"),
        (r"memory", "not enough memory to decode this frame"),
        (r"unsupported|not supported|cannot handle|unknown (jpeg|marker|process)",
         "compression variant not supported by the installed decoders"),
    )
)
# "name: reason" segments as pydicom lists its plugins ("pylibjpeg: ...; gdcm: ...").
_PLUGIN = re.compile(r"^\s*[-*]?\s*([A-Za-z][\w.-]{1,30})\s*:\s*(.+)$")
_PATH_PREFIX = re.compile(r"^\S+\.(dcm|ima|dicom)\s*:\s*", re.IGNORECASE)


def _segments(text: str) -> list[str]:
    """Lines and '; '-separated parts of a decoder message, blank ones dropped."""
    out = []
    for line in text.splitlines():
        out.extend(p.strip() for p in line.split("; ") if p.strip())
    return out


def short_decoder_error(exc_or_text: BaseException | str) -> str:
    """One line (at most about 130 characters) saying why a frame did not decode.

    Known library failures get plain wording (size mismatch, cut-short data, unsupported
    variant); otherwise only the first decoder's reason is kept, as "pylibjpeg: <reason>",
    without the other plugins, exception class names or tracebacks.
    """
    text = str(exc_or_text) if isinstance(exc_or_text, BaseException) else exc_or_text
    text = text or (type(exc_or_text).__name__ if isinstance(exc_or_text, BaseException) else "")
    for pattern, plain in _PLAIN:
        if pattern.search(text):
            return plain
    # "<path>: cannot decode <syntax> pixel data (frame 3): <per-plugin reasons>"
    text = re.sub(r"^.*?\(frame \d+\)\s*:\s*", "", text, count=1, flags=re.DOTALL)
    parts = [s for s in _segments(text) if not s.lower().startswith("traceback")]
    if not parts:
        return "the decoder gave no reason"
    first_plugin = next((m for m in map(_PLUGIN.match, parts) if m), None)
    if first_plugin is not None:
        name, reason = first_plugin.groups()
        reason = _PLUGIN.sub(r"\2", reason)  # "gdcm: RuntimeError: x" -> "x"
        line = f"{name}: {reason.strip()}"
    else:
        line = _PATH_PREFIX.sub("", parts[0])
    line = re.sub(r"\b[A-Z]\w*(Error|Exception)\s*:\s*", "", line)  # "ValueError: " etc.
    line = re.sub(r"\s+", " ", line).strip().rstrip(":;,")
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1].rstrip() + "…"


def frame_problem(path: str, frame: int, exc_or_text: BaseException | str) -> str:
    """The one-line message for a frame (0-based ``frame``) that did not decode."""
    return f"{path}: frame {frame + 1} cannot be shown ({short_decoder_error(exc_or_text)}); " \
           f"{REEXPORT}"


def found_without_images(kinds: Iterable[str]) -> str:
    """What a folder held when it held no image, e.g. "this folder holds 1 SEG and 2 SR
    objects but no images"; "" when ``kinds`` (the kinds of its non-image objects: SEG, SR,
    PR, KO, ...) is empty."""
    counts = Counter(k for k in kinds if k)
    if not counts:
        return ""
    parts = [f"{n} {k}" for k, n in sorted(counts.items())]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    noun = "object" if sum(counts.values()) == 1 else "objects"
    return f"this folder holds {listed} {noun} but no images"
