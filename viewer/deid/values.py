"""Replacement values: dummies by VR (action D), dates shifted by whole days (the Modified
Dates option), free text cleaned of the patient's identifiers (action C)."""

from __future__ import annotations

import datetime as _dt
import functools
import re

DUMMY_TEXT = "ANONYMIZED"
# A dummy for each VR that cannot take the text above (D: non-empty and valid for the VR).
_DUMMY_BY_VR = {
    "PN": "ANONYMOUS", "DA": "19000101", "TM": "000000", "DT": "19000101000000",
    "AS": "000Y", "IS": "0", "DS": "0", "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0,
    "FL": 0.0, "FD": 0.0, "AT": 0, "OB": b"\0\0", "OW": b"\0\0", "OD": b"\0" * 8,
    "OF": b"\0" * 4, "OL": b"\0" * 4, "OV": b"\0" * 8, "UN": b"\0\0", "CS": "ANONYMIZED",
    "AE": "ANONYMIZED", "SH": "ANONYMIZED", "UR": "urn:anonymized",
}


def dummy(vr: str):
    """A non-empty value valid for ``vr`` that carries no information."""
    return _DUMMY_BY_VR.get(vr, DUMMY_TEXT)


def shift_date(value: str, days: int) -> str:
    """A DA value (``YYYYMMDD``) moved by ``days``; "" for anything else (a partial or
    malformed date cannot be shifted, so it is not kept)."""
    value = value.strip()
    try:
        d = _dt.datetime.strptime(value, "%Y%m%d").date()
        return (d + _dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return ""


def shift_datetime(value: str, days: int) -> str:
    """A DT value moved by ``days``: the date part shifted, time and offset kept."""
    value = value.strip()
    if len(value) < 8:
        return ""
    date = shift_date(value[:8], days)
    return date + value[8:] if date else ""


def shift(vr: str, value, days: int):
    """Shift a DA or DT value (or each of a multi-valued one); TM and others unchanged (a
    shift by whole days leaves times as they were)."""
    if vr not in ("DA", "DT") or value in (None, ""):
        return value
    fn = shift_date if vr == "DA" else shift_datetime
    if isinstance(value, str):
        return fn(value, days)
    return [fn(str(v), days) for v in value]


def identifying_terms(ds) -> list[str]:
    """Strings of ``ds`` that name the patient, their records or the people around them
    (compared case-insensitively by :func:`clean_text`), longest first."""
    terms: set[str] = set()
    for kw in ("PatientName", "ReferringPhysicianName", "PerformingPhysicianName",
               "OperatorsName", "PatientMotherBirthName", "PatientBirthName", "OtherPatientNames",
               "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician"):
        for v in _values(ds.get(kw)):
            for part in re.split(r"[\^= ,]+", str(v)):
                if len(part) >= 2:
                    terms.add(part)
    for kw in ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate",
               "InstitutionName", "InstitutionAddress", "StationName", "StudyID",
               "MedicalRecordLocator", "PatientAddress", "PatientTelephoneNumbers",
               "IssuerOfPatientID", "AdmissionID", "DeviceSerialNumber"):
        for v in _values(ds.get(kw)):
            v = str(v).strip()
            if len(v) >= 2:
                terms.add(v)
    birth = str(ds.get("PatientBirthDate", "") or "")
    if len(birth) == 8 and birth.isdigit():  # also as people write it
        terms.update({f"{birth[:4]}-{birth[4:6]}-{birth[6:]}", f"{birth[6:]}.{birth[4:6]}."
                      f"{birth[:4]}", f"{birth[4:6]}/{birth[6:]}/{birth[:4]}"})
    return sorted(terms, key=len, reverse=True)


def _values(v) -> list:
    if v is None or v == "":
        return []
    return list(v) if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue" else [v]


def clean_text(value, terms: list[str]):
    """``value`` (a string or several) with every identifying term removed; whitespace
    tidied. A value of no text VR is returned as is."""
    if not terms or value in (None, ""):
        return value
    if isinstance(value, bytes | int | float):
        return value
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [clean_text(str(v), terms) for v in value]
    value = _pattern(tuple(terms)).sub(" ", str(value))  # a PersonName too
    value = re.sub(r"\(\s*\)|\[\s*\]", " ", value)  # "CT (Jane Doe)": no "()" left
    return " ".join(value.split())


@functools.lru_cache(maxsize=64)
def _pattern(terms: tuple[str, ...]) -> re.Pattern:
    """One regular expression for ``terms``; a short one (a name part like "Li") only as a
    word of its own, so that it is not cut out of other words ("Lidocaine")."""
    alts = [re.escape(t) if len(t) >= 4 else rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])"
            for t in terms]
    return re.compile("|".join(alts), re.IGNORECASE)
