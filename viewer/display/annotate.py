"""The text around an image (corner text) shared by the window and the exports.

Patient-identifying fields (name, ID, birth date, accession number, study description, which
often carries names) appear only when ``include_patient`` is set. Every line is cleaned
(:func:`viewer.display.text.clean`): one line, no control characters, at most
``MAX_CHARS`` characters, so no header string makes the layout that follows slow.
"""

from __future__ import annotations

from viewer.dicom.header import InstanceHeader
from viewer.dicom.spacing import PixelCalibration, millimetres
from viewer.display.orient import ViewTransform
from viewer.display.text import clean, elide
from viewer.display.window import Window

CORNERS = ("tl", "tr", "bl", "br")
_IDENTITY = ViewTransform()


def _date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 and d.isdigit() else d


def _level(v: float) -> str:
    """A window value as read: whole numbers plainly, small real values (PET in Bq/ml x 1e-3,
    dose in Gy) with 3 significant digits rather than rounded to 0."""
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def patient_lines(h: InstanceHeader) -> list[str]:
    """The patient-identifying lines (shown only on request)."""
    name = clean(h.patient_name.replace("^", " "))
    lines = [name, f"ID {clean(h.patient_id)}" if h.patient_id else ""]
    if h.patient_birth_date:
        lines.append(f"born {_date(clean(h.patient_birth_date))}")
    if h.accession_number:
        lines.append(f"acc {clean(h.accession_number)}")
    # Study Description often carries names (PS3.15 removes it in basic de-identification).
    lines.append(clean(h.study_description))
    return [t for t in lines if t]


def corner_text(h: InstanceHeader, *, title: str, plane: str, index: int, n_slices: int,
                position_mm: float | None, window: Window | None,
                spacing: tuple[float, float], transform: ViewTransform = _IDENTITY,
                zoom: float | None = None, loading: bool = False,
                include_patient: bool = False, narrow: bool = False,
                calibration: PixelCalibration | None = None,
                instance_number: int | None = None) -> dict[str, list[str]]:
    """Lines for the four corners (``tl``, ``tr``, ``bl``, ``br``) of one shown image.

    ``index`` is 0-based (shown 1-based); ``spacing`` is (row mm, column mm) of the source
    image; ``zoom`` (screen pixels per image pixel) only in the window. ``calibration`` (from
    :func:`viewer.dicom.spacing.for_stack`) says what ``spacing`` is: "at detector", "px", ...;
    without it ``spacing`` is Pixel Spacing in mm. ``instance_number`` (0020,0013) of the shown
    slice appears beside its place in the stack, as "image 12 / 55  (#34)", so that a slice
    can be matched with the number PACS and reports use.
    """
    tl = patient_lines(h) if include_patient else []
    tl.insert(len(tl) - (1 if include_patient and clean(h.study_description) else 0),
              _date(clean(h.study_date)))
    title = clean(title)
    if narrow:
        tl = [elide(t, 12) for t in tl if t][:1]
        tr = [elide(title, 14), f"{plane} {index + 1}/{n_slices}"]
    else:
        tr = [title, f"{plane}  image {index + 1} / {n_slices}"]
    if instance_number is not None:
        tr[1] += f" #{instance_number}" if narrow else f"  (#{instance_number})"
    if position_mm is not None:
        tr.append(f"pos {position_mm:.1f} mm")
    if loading:
        tr.append("loading…")
    bl = []
    if window is not None:
        bl.append(f"C {_level(window.center)}  W {_level(window.width)}")
    if zoom is not None:
        bl.append(f"zoom {zoom:.2f}x")
    if not transform.is_identity:
        bl.append(f"rotated {90 * transform.quarter_turns}°"
                  + ("  flipped" if transform.flip_h else ""))
    br = [(calibration or millimetres(spacing)).summary(narrow)]
    return {"tl": [t for t in map(clean, tl) if t], "tr": [clean(t) for t in tr],
            "bl": bl, "br": br}
