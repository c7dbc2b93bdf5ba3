"""What every object radviewer writes for a study shares: Patient and Study attributes copied
from a source image, equipment, new UIDs, and an atomic write into the study's output folder."""

from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

from viewer.dicom import lazy
from viewer.errors import ExportError
from viewer.export.atomic import atomic_open

MANUFACTURER = "radviewer"
# Patient and General Study attributes copied from the source (Patient and Study modules).
PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                 "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName",
                 "StudyID", "AccessionNumber", "StudyDescription")
# Type 2: present even when the source has none.
_TYPE2 = {"PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"}


def read_header(path: str, purpose: str):
    """The pydicom dataset of ``path`` without pixel data; ExportError naming the file."""
    pydicom = lazy.pydicom()
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # OSError, InvalidDicomError, damaged headers
        raise ExportError(f"{path}: cannot read the source image {purpose} ({exc}); check "
                          "that the study folder is still there") from exc


def copy_patient_study(src, ds) -> None:
    """Copy the Patient and General Study attributes of ``src`` into ``ds``."""
    for kw in PATIENT_STUDY:
        if kw in src:
            setattr(ds, kw, src.data_element(kw).value)
        elif kw in _TYPE2:
            setattr(ds, kw, "")


def equipment(ds) -> None:
    """General and Enhanced General Equipment: radviewer and its version."""
    import viewer

    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.DeviceSerialNumber = "none"
    ds.SoftwareVersions = viewer.__version__


def equipment_kwargs() -> dict[str, str]:
    """:func:`equipment` as highdicom's constructor arguments."""
    import viewer

    return {"manufacturer": MANUFACTURER, "manufacturer_model_name": MANUFACTURER,
            "software_versions": viewer.__version__, "device_serial_number": "none"}


def quietly(build, *args, **kwargs):
    """``build(*args, **kwargs)`` (a highdicom constructor) without its warning about a
    one-part Patient's Name: the source's value is copied as it is, so the warning says nothing
    about the new object. Other warnings stay."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended "
                                "person name", category=UserWarning)
        return build(*args, **kwargs)


def now() -> tuple[str, str]:
    """(DA, TM) of now, local time, as DICOM writes content and series dates."""
    t = _dt.datetime.now()
    return t.strftime("%Y%m%d"), t.strftime("%H%M%S")


def write_dataset(ds, path: Path) -> Path:
    """Write ``ds`` (a pydicom Dataset with file meta) atomically, replacing ``path``."""
    with atomic_open(path, "wb", overwrite=True) as fh:
        ds.save_as(fh, enforce_file_format=True)
    return Path(path)


def file_meta(sop_class_uid: str, sop_instance_uid: str):
    """File Meta Information for Explicit VR Little Endian."""
    pydicom = lazy.pydicom()
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return meta
