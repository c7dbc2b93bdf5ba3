"""Reference and predicted label maps in a folder, keyed by the series they belong to.

A folder (searched recursively) may hold, per series:

- an ``analyze`` output: ``report.json`` with ``labels.npy`` beside it (uint8 ``[k, j, i]``;
  the series UID, label names and affine come from the report);
- a DICOM SEG (matched by its Referenced Series Sequence; read onto the series' grid with
  :func:`viewer.dicom.seg.read_seg`);
- a NIfTI ``<series UID>.nii`` / ``.nii.gz`` on the series' own grid (read with SimpleITK).

Every loader returns ``(labels [k, j, i] uint8, {value: name})`` on the stack's grid, or raises
:class:`~viewer.errors.DicomReadError` naming the file and what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.errors import DicomReadError


@dataclass
class LabelSource:
    path: Path
    kind: str  # "labels.npy", "seg" or "nifti"
    series_uids: tuple[str, ...]
    report: dict | None = None

    def load(self, stack) -> tuple[np.ndarray, dict[int, str]]:
        if self.kind == "seg":
            from viewer.dicom.seg import read_seg

            ov = read_seg(self.path, stack)
            return ov.label_volume, {lab.value: lab.name for lab in ov.labels}
        if self.kind == "nifti":
            return _load_nifti(self.path, stack), {}
        arr = np.load(self.path, allow_pickle=False)
        names = {int(d["value"]): str(d["name"]) for d in self.report.get("labels", [])}
        return _on_stack(arr, self.path, stack), names


def _on_stack(arr: np.ndarray, path: Path, stack) -> np.ndarray:
    shape = (stack.n_frames, stack.rows, stack.columns)
    if arr.shape != shape:
        raise DicomReadError(f"{path}: label map is {arr.shape} but the series is {shape} "
                             f"([k, j, i]); give labels on the series' own grid")
    return arr.astype(np.uint8, copy=False)


def _load_nifti(path: Path, stack) -> np.ndarray:
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img)  # [k, j, i]
    aff = np.eye(4)
    aff[:3, :3] = np.asarray(img.GetDirection()).reshape(3, 3) * np.asarray(img.GetSpacing())
    aff[:3, 3] = img.GetOrigin()  # ITK is LPS, like the stack's affine
    if stack.affine is not None and not np.allclose(aff, stack.affine, atol=1e-2):
        raise DicomReadError(f"{path}: the NIfTI lies on another grid than the series; "
                             f"resample it onto the series' grid first")
    return _on_stack(arr, path, stack)


def _seg_series(path: Path) -> tuple[str, ...] | None:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 (not DICOM: not a source)
        return None
    if str(ds.get("Modality", "")) != "SEG":
        return None
    return tuple(str(r.SeriesInstanceUID) for r in ds.get("ReferencedSeriesSequence", []) or [])


def find_sources(folder: Path) -> dict[str, LabelSource]:
    """``{series UID: source}`` for every label map under ``folder``."""
    out: dict[str, LabelSource] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.name == "report.json" and (p.parent / "labels.npy").is_file():
            try:
                rep = json.loads(p.read_text(encoding="utf-8"))
                uid = str(rep["series"]["series_uid"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DicomReadError(f"{p}: not a radviewer analyze report ({exc}); "
                                     f"remove it or write it again with radviewer analyze"
                                     ) from exc
            out[uid] = LabelSource(p.parent / "labels.npy", "labels.npy", (uid,), rep)
        elif p.name.endswith((".nii", ".nii.gz")):
            uid = p.name.removesuffix(".gz").removesuffix(".nii")
            out[uid] = LabelSource(p, "nifti", (uid,))
        elif p.suffix.lower() in ("", ".dcm"):
            uids = _seg_series(p)
            for uid in uids or ():
                out[uid] = LabelSource(p, "seg", uids)
    return out


def find_reports(folder: Path) -> dict[str, dict]:
    """``{series UID: report}`` of the classification reports (``slice_scores``) under
    ``folder`` (predictions made earlier with ``radviewer analyze``)."""
    out = {}
    for p in sorted(folder.rglob("report.json")):
        try:
            rep = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rep, dict) and "slice_scores" in rep:
            out[str(rep["series"]["series_uid"])] = rep
    return out


def shown_path(path: str | Path) -> str:
    """``path`` as metrics.json and report.html record it: relative to the working folder when
    inside it, else its last two parts; never absolute (reports are shared, and absolute
    paths leak user and machine names)."""
    p = Path(path).expanduser().resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return "/".join(p.parts[-2:]) if len(p.parts) > 2 else p.name
