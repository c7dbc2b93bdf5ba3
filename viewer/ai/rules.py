"""What a manifest says a model knows, and the checks that hold results to it.

Parsed from a ``radviewer.model/1`` manifest (see ``models/README.md``, "Applicability" and
"Honest outputs"): the series a model fits beyond its modality (plane, Image Type, body part,
coverage), which slices of a 2-D classifier's series lie inside what it saw, whether its
scores are calibrated probabilities, and the plausible range of its volumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from viewer.errors import ModelError

PLANES = ("axial", "coronal", "sagittal")
# Index of the patient axis (LPS x, y, z) each plane's slice normal points along.
_PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
MISMATCH = ("refuse", "warn")


@dataclass(frozen=True)
class SliceDomain:
    """Head-coverage rule for 2-D classifiers: a slice is inside the model's range when the
    fraction of its pixels above ``threshold`` x the series' 99th percentile is at least
    ``min_relative`` x that fraction on the series' fullest slice (skull base and vertex
    slices have a smaller head cross-section than the mid-brain ones the model saw)."""

    threshold: float = 0.1
    min_relative: float = 0.9

    @property
    def text(self) -> str:
        return (f"head coverage (pixels above {self.threshold:g} x the series' 99th "
                f"percentile) at least {self.min_relative:g} x the fullest slice's")


@dataclass(frozen=True)
class Plausible:
    """The sum of ``labels``' volumes should lie in [min_ml, max_ml]."""

    labels: tuple[str, ...]
    min_ml: float
    max_ml: float
    what: str


@dataclass(frozen=True)
class Rules:
    planes: tuple[str, ...] = ()
    plane_tolerance_deg: float = 20.0
    image_type: str = ""  # "ORIGINAL": refuse DERIVED (and MOSAIC) series
    body_part: str = ""  # checked only when the series names its Body Part Examined
    min_coverage_mm: float | None = None  # along the slice axis
    on_mismatch: str = "refuse"  # for the checks above: "refuse" or "warn"
    calibrated: bool = False  # scores are calibrated probabilities (output.calibrated)
    slice_domain: SliceDomain | None = None
    plausible: tuple[Plausible, ...] = ()


def _num(v, where: str, what: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
            or not lo <= v <= hi:
        raise ModelError(f"{where}: {what} is {v!r}; it should be a number from {lo:g} to {hi:g}")
    return float(v)


def parse_rules(data: dict, where: str) -> Rules:
    """The rules of manifest ``data``; a ModelError naming ``where`` and the field."""
    app = data.get("applicability", {}) or {}
    out = data.get("output", {}) or {}
    planes = app.get("plane", [])
    planes = [planes] if isinstance(planes, str) else planes
    if not isinstance(planes, list) or any(str(p).lower() not in PLANES for p in planes):
        raise ModelError(f"{where}: applicability plane should be a list of "
                         f"{', '.join(PLANES)}")
    tol = _num(app.get("plane_tolerance_deg", 20.0), where,
               "applicability plane_tolerance_deg", 0, 45)
    image_type = str(app.get("image_type", "")).upper()
    if image_type not in ("", "ORIGINAL"):
        raise ModelError(f"{where}: applicability image_type should be \"ORIGINAL\"")
    cov = app.get("min_coverage_mm")
    cov = None if cov is None else _num(cov, where, "applicability min_coverage_mm", 0, 2000)
    mismatch = str(app.get("on_mismatch", "refuse"))
    if mismatch not in MISMATCH:
        raise ModelError(f"{where}: applicability on_mismatch should be 'refuse' or 'warn'")
    calibrated = out.get("calibrated", False)
    if not isinstance(calibrated, bool):
        raise ModelError(f"{where}: output calibrated should be true or false")
    dom = app.get("slice_domain")
    domain = None
    if dom is not None:
        if not isinstance(dom, dict) or dom.get("rule") != "head_coverage":
            raise ModelError(f"{where}: applicability slice_domain should be "
                             f"{{\"rule\": \"head_coverage\", ...}}")
        domain = SliceDomain(
            _num(dom.get("threshold", 0.1), where, "slice_domain threshold", 0, 1),
            _num(dom.get("min_relative", 0.9), where, "slice_domain min_relative", 0, 1))
    plaus = []
    names = {lab.get("name") for lab in out.get("labels", []) if isinstance(lab, dict)}
    raw = out.get("plausible_ml", [])
    if not isinstance(raw, list):
        raise ModelError(f"{where}: output plausible_ml should be a list")
    for n, p in enumerate(raw):
        at = f"output plausible_ml[{n}]"
        if not isinstance(p, dict) or not isinstance(p.get("labels"), list) or not p["labels"]:
            raise ModelError(f"{where}: {at} should have labels, min and max")
        unknown = [lab for lab in p["labels"] if lab not in names]
        if unknown:
            raise ModelError(f"{where}: {at} names unknown labels {unknown}")
        lo = _num(p.get("min"), where, f"{at} min", 0, 1e7)
        hi = _num(p.get("max"), where, f"{at} max", lo, 1e7)
        plaus.append(Plausible(tuple(p["labels"]), lo, hi,
                               str(p.get("what", " + ".join(p["labels"])))))
    return Rules(tuple(str(p).lower() for p in planes), tol, image_type,
                 str(app.get("body_part", "")), cov, mismatch, calibrated, domain,
                 tuple(plaus))


# ----------------------------------------------------------------------------- series checks

def plane_angle(orientation, plane: str) -> float:
    """Degrees between the slice normal of ``orientation`` (6 direction cosines) and the
    patient axis normal to ``plane``."""
    o = np.asarray(orientation, float)
    n = np.cross(o[:3], o[3:])
    n /= np.linalg.norm(n)
    return float(np.degrees(np.arccos(min(1.0, abs(n[_PLANE_AXIS[plane]])))))


def coverage_mm(stack) -> float | None:
    """Extent of the stack along its slice axis (mm): first to last position plus a slice."""
    pos = stack.slice_positions
    if pos is None or stack.spacing is None:
        return None
    return float(abs(pos[-1] - pos[0]) + stack.spacing[0])


def series_mismatches(rules: Rules, stack) -> list[str]:
    """Why the series falls outside the manifest's plane, Image Type, body part or coverage
    (empty: it fits). Whether these refuse or warn is ``rules.on_mismatch``."""
    out = []
    h = stack.first
    if rules.planes:
        if stack.orientation is None:
            out.append(f"needs {'/'.join(rules.planes)} slices; this series has no orientation")
        else:
            angles = {p: plane_angle(stack.orientation, p) for p in PLANES}
            best = min(angles, key=angles.get)
            if all(angles[p] > rules.plane_tolerance_deg for p in rules.planes):
                out.append(f"needs {'/'.join(rules.planes)} slices (within "
                           f"{rules.plane_tolerance_deg:g}°); this series is {best} "
                           f"({angles[best]:.0f}° off)")
    if rules.image_type == "ORIGINAL":
        kinds = [t.upper() for t in h.image_type]
        bad = [k for k in ("DERIVED", "MOSAIC") if k in kinds]
        if bad:
            text = "\\".join(h.image_type)
            out.append(f"needs ORIGINAL images; this series is {' and '.join(bad)} "
                       f"(Image Type {text})")
    part = str(getattr(h, "body_part", "") or "").strip()
    if rules.body_part and part and not body_part_fits(rules.body_part, part):
        out.append(f"needs {rules.body_part}; this series' Body Part Examined is {part}")
    if rules.min_coverage_mm is not None:
        cov = coverage_mm(stack)
        if cov is not None and cov < rules.min_coverage_mm:
            out.append(f"needs at least {rules.min_coverage_mm:.0f} mm along the slice axis; "
                       f"this series covers {cov:.0f} mm")
    return out


def _part_key(text: str) -> str:
    # Body Part Examined is CS but written freely ("Head Neck", "HEAD_NECK"): compare without
    # case, spaces, underscores or hyphens.
    return "".join(c for c in text.upper() if c.isalnum())


# Synonym groups (DICOM PS3.16 Annex L defined terms; models/README.md, "Applicability"): a
# manifest naming any member accepts a series naming any member. A head volume holds the
# brain, so the brain models accept HEAD, SKULL and HEADNECK studies too.
_BODY_PART_GROUPS = (frozenset({"BRAIN", "HEAD", "SKULL", "HEADNECK"}),)


def body_part_fits(required: str, examined: str) -> bool:
    """Whether a series' Body Part Examined ``examined`` is the manifest's ``required`` part
    or one of its synonyms."""
    need, have = _part_key(required), _part_key(examined)
    if need == have:
        return True
    return any(need in g and have in g for g in _BODY_PART_GROUPS)


# ----------------------------------------------------------------------------- result checks

def slices_in_range(real: np.ndarray, domain: SliceDomain) -> np.ndarray:
    """Boolean per slice of ``real`` ([k, rows, cols] real values): inside ``domain``."""
    thr = domain.threshold * float(np.percentile(real, 99))
    cov = (real > thr).mean(axis=(1, 2))
    return cov >= domain.min_relative * max(float(cov.max()), 1e-12)


def implausible(rules: Rules, volumes_ml: dict[str, float]) -> list[str]:
    """One line per plausibility range that ``volumes_ml`` misses."""
    out = []
    for p in rules.plausible:
        total = sum(volumes_ml.get(lab, 0.0) for lab in p.labels)
        if not p.min_ml <= total <= p.max_ml:
            # Short enough for a legend line: the number and the range come first.
            out.append(f"implausible: {p.what} {total:.1f} mL, outside {p.min_ml:g}-"
                       f"{p.max_ml:g} mL; the series probably does not fit the model")
    return out


def slice_ranges(indices) -> str:
    """1-based slice numbers from 0-based ``indices`` as ranges: ``1-17, 39-55``."""
    out, run = [], []
    for k in sorted(int(i) + 1 for i in indices):
        if run and k == run[-1] + 1:
            run.append(k)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [k]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)
