"""A registration saved as a DICOM Spatial Registration object (SRO), and read back.

Spatial Registration Storage (1.2.840.10008.5.1.4.1.1.66.1), written with pydicom (highdicom
has no SRO class). The object's Frame of Reference is the fixed series'; its Registration
Sequence (0070,0308) holds two items, each with a Matrix Registration Sequence (0070,0309)
whose Frame of Reference Transformation Matrix (3006,00C6) maps that item's coordinates into
the object's (PS3.3 C.20.2):

1. the fixed series: identity;
2. the moving series: ``moving_to_fixed`` (patient LPS mm, row-major 4x4).

Each item names its images in Referenced Image Sequence (0008,1140); the moving item names its
Frame of Reference UID only when it differs from the fixed one, so that a correction between
two series of one Frame of Reference applies to the moving images, not to the whole frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.dicom import lazy
from viewer.dicom.stacks import Stack
from viewer.errors import DicomReadError
from viewer.persist import dicom_common as common
from viewer.persist import location

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.1"
TYPES = ("RIGID", "RIGID_SCALE", "AFFINE")
SERIES_DESCRIPTION = "radviewer registration"


@dataclass(frozen=True)
class SavedRegistration:
    """A registration read from an SRO: ``moving_to_fixed`` (4x4, LPS mm), its type (RIGID,
    RIGID_SCALE, AFFINE), the two series and the object's file."""

    moving_to_fixed: np.ndarray
    matrix_type: str
    fixed_series_uid: str
    moving_series_uid: str
    path: str
    description: str = ""


def matrix_type(moving_to_fixed: np.ndarray, tol: float = 1e-4) -> str:
    """RIGID when the 3x3 part is a rotation, RIGID_SCALE a rotation times one scale, else
    AFFINE (Frame of Reference Transformation Matrix Type (0070,030C))."""
    a = np.asarray(moving_to_fixed, dtype=float)[:3, :3]
    g = a.T @ a
    if np.allclose(g, np.eye(3), atol=tol) and np.linalg.det(a) > 0:
        return "RIGID"
    s = float(np.mean(np.diag(g)))
    if np.allclose(g, s * np.eye(3), atol=tol * s) and np.linalg.det(a) > 0:
        return "RIGID_SCALE"
    return "AFFINE"


def _image_refs(stack: Stack):
    pydicom = lazy.pydicom()
    seen, out = set(), []
    for f in stack.frames:
        h = f.header
        if h.sop_instance_uid in seen:
            continue
        seen.add(h.sop_instance_uid)
        item = pydicom.Dataset()
        item.ReferencedSOPClassUID = h.sop_class_uid
        item.ReferencedSOPInstanceUID = h.sop_instance_uid
        out.append(item)
    return out


def _registration_item(stack: Stack, matrix: np.ndarray, kind: str, with_frame: bool,
                       comment: str):
    pydicom = lazy.pydicom()
    item = pydicom.Dataset()
    if with_frame:
        item.FrameOfReferenceUID = stack.first.frame_of_reference_uid
    item.ReferencedImageSequence = _image_refs(stack)
    reg = pydicom.Dataset()
    reg.FrameOfReferenceTransformationComment = comment[:1024]
    reg.RegistrationTypeCodeSequence = []
    m = pydicom.Dataset()
    m.FrameOfReferenceTransformationMatrix = [float(f"{v:.10g}") for v in
                                              np.asarray(matrix, dtype=float).ravel()]
    m.FrameOfReferenceTransformationMatrixType = kind
    reg.MatrixSequence = [m]
    item.MatrixRegistrationSequence = [reg]
    return item


def _common_references(stacks: list[Stack], study_uid: str):
    """Common Instance Reference module: series of this study, and of other studies."""
    pydicom = lazy.pydicom()
    here, other = [], {}
    for st in stacks:
        s = pydicom.Dataset()
        s.SeriesInstanceUID = st.series_uid
        s.ReferencedInstanceSequence = _image_refs(st)
        if st.first.study_uid == study_uid:
            here.append(s)
        else:
            other.setdefault(st.first.study_uid, []).append(s)
    studies = []
    for uid, series in other.items():
        s = pydicom.Dataset()
        s.StudyInstanceUID = uid
        s.ReferencedSeriesSequence = series
        studies.append(s)
    return here, studies


def file_name(fixed: Stack, moving: Stack) -> str:
    """One file per (fixed, moving) pair: registering again replaces it."""
    digest = hashlib.sha256(f"{fixed.series_uid}|{moving.series_uid}".encode()).hexdigest()[:12]
    return f"radviewer-reg-{digest}.dcm"


def save_registration(study_dir: str, fixed: Stack, moving: Stack, moving_to_fixed: np.ndarray,
                      description: str = "") -> Path:
    """Write the SRO for ``moving_to_fixed`` (4x4, LPS mm) into the study's output folder
    (:func:`viewer.persist.location.output_folder`) and return its path.

    Raises
    ------
    ExportError
        A source header cannot be read, or the file cannot be written.
    ValueError
        The matrix is not a finite 4x4 with last row (0, 0, 0, 1).
    """
    m = np.asarray(moving_to_fixed, dtype=float)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)) or not np.allclose(m[3], [0, 0, 0, 1]):
        raise ValueError("a registration matrix is a finite 4x4 with last row 0 0 0 1")
    pydicom = lazy.pydicom()
    src = common.read_header(fixed.first.path, "to reference it in the registration")
    uid = pydicom.uid.generate_uid()
    ds = pydicom.dataset.FileDataset("", pydicom.Dataset(), preamble=b"\0" * 128,
                                     file_meta=common.file_meta(SOP_CLASS, uid))
    common.copy_patient_study(src, ds)
    date, time = common.now()
    ds.SOPClassUID, ds.SOPInstanceUID = SOP_CLASS, uid
    ds.Modality = "REG"
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesNumber = 9901
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.SeriesDate, ds.SeriesTime = date, time
    if "BodyPartExamined" in src:  # tells readers (and dciodvfy) whether Laterality applies
        ds.BodyPartExamined = src.BodyPartExamined
    ds.Laterality = src.get("Laterality", "")
    ds.FrameOfReferenceUID = fixed.first.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    common.equipment(ds)
    ds.InstanceNumber = 1
    ds.ContentLabel = "REGISTRATION"
    ds.ContentDescription = (description or f"{moving.label} to {fixed.label}")[:64]
    ds.ContentCreatorName = ""
    ds.ContentDate, ds.ContentTime = date, time
    kind = matrix_type(m)
    same = moving.first.frame_of_reference_uid == fixed.first.frame_of_reference_uid
    ds.RegistrationSequence = [
        _registration_item(fixed, np.eye(4), "RIGID", True, "fixed series"),
        _registration_item(moving, m, kind, not same, "moving series to fixed series"),
    ]
    here, others = _common_references([fixed, moving], ds.StudyInstanceUID)
    if here:
        ds.ReferencedSeriesSequence = here
    if others:
        ds.StudiesContainingOtherReferencedInstancesSequence = others
    folder = location.output_folder(study_dir)
    return common.write_dataset(ds, folder / file_name(fixed, moving))


def read_registration(path: str | Path) -> SavedRegistration:
    """The registration in an SRO written by :func:`save_registration` (or another program
    that follows the same two-item layout: fixed first with identity, then moving).

    Raises
    ------
    DicomReadError
        Not a Spatial Registration object, or no moving item with a 4x4 matrix.
    """
    pydicom = lazy.pydicom()
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise DicomReadError(f"{path}: cannot be read as DICOM ({exc})") from exc
    if ds.get("SOPClassUID") != SOP_CLASS:
        raise DicomReadError(f"{path}: not a Spatial Registration object")
    series_of = {}
    refs = list(ds.get("ReferencedSeriesSequence", []))
    for st in ds.get("StudiesContainingOtherReferencedInstancesSequence", []):
        refs.extend(st.get("ReferencedSeriesSequence", []))
    for s in refs:
        for i in s.get("ReferencedInstanceSequence", []):
            series_of[str(i.ReferencedSOPInstanceUID)] = str(s.SeriesInstanceUID)
    items = []
    for item in ds.get("RegistrationSequence", []):
        try:
            m = item.MatrixRegistrationSequence[0].MatrixSequence[0]
            matrix = np.array([float(v) for v in m.FrameOfReferenceTransformationMatrix])
            images = item.get("ReferencedImageSequence", [])
            series = series_of.get(str(images[0].ReferencedSOPInstanceUID), "") if images else ""
            items.append((matrix.reshape(4, 4), str(m.FrameOfReferenceTransformationMatrixType),
                          series))
        except (AttributeError, IndexError, ValueError, TypeError):
            continue
    if len(items) != 2 or items[0][0].shape != (4, 4):
        raise DicomReadError(f"{path}: the Spatial Registration object does not hold one fixed "
                             "and one moving series; it cannot be used")
    (fixed_m, _, fixed_uid), (moving_m, kind, moving_uid) = items
    # A reader applies each item's matrix into the object's frame; compose the two so a first
    # item that is not the identity is honoured too.
    return SavedRegistration(np.linalg.inv(fixed_m) @ moving_m, kind, fixed_uid, moving_uid,
                             str(path), str(ds.get("ContentDescription", "")))


def find_registrations(study_dir: str, fixed: Stack, moving: Stack) -> list[SavedRegistration]:
    """Registrations of ``moving`` to ``fixed`` saved for this study, newest first."""
    found = []
    for folder in location.existing(study_dir):
        path = folder / file_name(fixed, moving)
        if path.is_file():
            try:
                found.append((path.stat().st_mtime, read_registration(path)))
            except DicomReadError:
                continue
    return [r for _, r in sorted(found, key=lambda x: -x[0])]
