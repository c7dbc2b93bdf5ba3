"""The annotated view as a DICOM Secondary Capture image in the same study (a new series), so
it can be sent to PACS beside the images it was made from (highdicom ``SCImage``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from viewer import __version__
from viewer.dicom import lazy
from viewer.dicom.header import InstanceHeader
from viewer.errors import ExportError
from viewer.export.atomic import atomic_open

SC_SERIES_NUMBER = 9901  # radviewer's captures: high, so they sort after the acquired series


def new_uid() -> str:
    return lazy.pydicom().uid.generate_uid()


_AXIS = {"L": 0, "R": 0, "A": 1, "P": 1, "H": 2, "F": 2}


def _orientation(letters: dict[str, str]) -> tuple[str, str] | None:
    """Patient Orientation (0020,0020): directions of the rows (towards the right edge) and of
    the columns (towards the bottom edge), e.g. ("L", "P") for an axial slice, ("LP", "FL")
    for an oblique one.

    PS3.3 C.7.6.1.1.1: each value is one of A P R L H F, the principal direction first,
    refined by one or two more letters for oblique images. The screen letters say S/I where
    DICOM writes H/F. None when the letters do not describe two directions (no geometry).
    """
    tr = str.maketrans({"S": "H", "I": "F"})
    values = []
    for edge in ("right", "bottom"):
        v = letters.get(edge, "").translate(tr)
        axes = [_AXIS.get(c) for c in v]
        # Up to 3 letters, each on its own axis (an "LR" or "PA" is no direction).
        if not 1 <= len(v) <= 3 or None in axes or len(set(axes)) != len(axes):
            return None
        values.append(v)
    if _AXIS[values[0][0]] == _AXIS[values[1][0]]:
        return None  # both edges principally along one axis: not an image plane
    return values[0], values[1]


def write_secondary_capture(rgb: np.ndarray, source: InstanceHeader, path: Path | str, *,
                            burned_in_patient_details: bool, letters: dict[str, str] | None = None,
                            series_uid: str | None = None, series_number: int = SC_SERIES_NUMBER,
                            instance_number: int = 1, description: str = "radviewer view",
                            overwrite: bool = False) -> Path:
    """Write ``rgb`` ((rows, columns, 3) uint8) as a Secondary Capture in ``source``'s study.

    The patient and study modules are copied from ``source`` (that is where the object
    belongs); ``burned_in_patient_details`` sets Burned In Annotation (0028,0301): whether the
    pixels carry text that identifies the patient. The source image is referenced in the
    Source Image Sequence. Written atomically; raises ExportError.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ExportError(f"{path}: a secondary capture needs an RGB 8-bit image")
    pydicom = lazy.pydicom()
    hd = lazy.load("highdicom")  # under the import lock, like pydicom

    try:
        ref = pydicom.dcmread(source.path, stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 (any read failure is reported the same way)
        raise ExportError(f"{source.path}: cannot read the source image to place the capture "
                          f"in its study ({exc})") from exc
    orientation = _orientation(letters or {})
    try:
        with warnings.catch_warnings():
            # highdicom quotes the Patient's Name in a warning about its form: that would put
            # patient data in the log, and the name is copied as it is anyway.
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended "
                                    "person name", category=UserWarning)
            # highdicom accepts single letters only: give it the principal directions, then
            # write the standard's refined values for oblique images.
            principal = (orientation[0][0], orientation[1][0]) if orientation else None
            sc = _build(hd, pydicom, ref, rgb, principal, series_uid, series_number,
                        instance_number)
    except (ValueError, TypeError) as exc:
        raise ExportError(f"{path}: cannot build the secondary capture ({exc})") from exc
    if orientation:
        sc.PatientOrientation = list(orientation)
    _finish(sc, ref, source, pydicom, description, burned_in_patient_details)
    with atomic_open(path, "wb", overwrite) as fh:
        sc.save_as(fh, enforce_file_format=True)
    return Path(path)


def _build(hd, pydicom, ref, rgb, orientation, series_uid, series_number, instance_number):
    return hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref, pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT" if orientation else None,
        patient_orientation=orientation,
        series_instance_uid=series_uid or new_uid(), series_number=series_number,
        sop_instance_uid=new_uid(), instance_number=instance_number,
        manufacturer="radviewer", transfer_syntax_uid=pydicom.uid.ExplicitVRLittleEndian)


def _finish(sc, ref, source, pydicom, description, burned_in_patient_details) -> None:
    """Series description, burned-in flag, software, comment and the source reference."""
    sc.SeriesDescription = description[:64]
    if "Laterality" not in sc:
        # Type 2C in General Series; empty says "not a paired structure / unknown".
        sc.Laterality = ref.get("Laterality", "")
    sc.BurnedInAnnotation = "YES" if burned_in_patient_details else "NO"
    sc.SoftwareVersions = f"radviewer {__version__}"
    sc.ImageComments = ("Annotated view exported by radviewer. AI results in it are for "
                        "research use, not a diagnosis.")
    item = pydicom.Dataset()
    item.ReferencedSOPClassUID = source.sop_class_uid
    item.ReferencedSOPInstanceUID = source.sop_instance_uid
    sc.SourceImageSequence = [item]
