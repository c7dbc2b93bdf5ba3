"""The PS3.15 Table E.1-1 expectations the deid tests check copies against, derived from the
table itself (Basic Profile column from dicom-anonymizer, option columns from
viewer.deid.options_table), not from viewer.deid.profile."""

from __future__ import annotations

import datetime as dt

from pydicom.datadict import keyword_for_tag

from viewer.deid import DeidOptions
from viewer.deid import options_table as opt

NAME, PID = "Doe^Jane", "MRN12345"
TEXT = "Doe Jane MRN12345 knee"  # identifying words and one that is not
UID_ROOT = "1.2.826.0.1.3680043.10.999."
ALL = DeidOptions(modified_dates=True, patient_characteristics=True, clean_descriptors=True,
                  safe_private=True)

VALUES = {
    "PN": NAME, "LO": TEXT, "LT": TEXT, "ST": TEXT, "UT": TEXT, "UC": TEXT, "SH": "Doe knee",
    "CS": "DOE", "AE": "DOEHOST", "UR": "http://doe.example", "DA": "20200102",
    "TM": "101010", "DT": "20200102101010", "AS": "045Y", "IS": "7", "DS": "7.5", "US": 7,
    "SS": 7, "UL": 7, "SL": 7, "UV": 7, "SV": 7, "FL": 7.5, "FD": 7.5, "AT": 0x00100010,
    "OB": b"\x01\x02", "OW": b"\x01\x02", "UN": b"\x01\x02", "OF": b"\x01" * 4,
    "OD": b"\x01" * 8, "OL": b"\x01" * 4, "OV": b"\x01" * 8,
}


def _basic_column() -> dict[int, str]:
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as t

    names = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
             "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D",
             "X_Z_U_STAR_TAGS": "X/Z/U*"}
    return {(r[0] << 16) | r[1]: code for cat, code in names.items() for r in getattr(t, cat)
            if len(r) == 2}


BASIC = _basic_column()


def expected(tag: int, o: DeidOptions) -> str:
    """Table E.1-1's code for ``tag`` under ``o`` (an option overrides the profile)."""
    kw = keyword_for_tag(tag)
    if o.patient_characteristics and kw in opt.PATIENT_CHARACTERISTICS_KEEP:
        return "K"
    if o.patient_characteristics and kw in opt.PATIENT_CHARACTERISTICS_CLEAN:
        return "C"
    if o.modified_dates and kw in opt.MODIFIED_DATES_CLEAN:
        return "C"
    if o.clean_descriptors and kw in opt.CLEAN_DESCRIPTORS_CLEAN:
        return "C"
    return BASIC[tag]


def empty(elem) -> bool:
    return elem.value in (None, "", b"", []) or elem.is_empty


def check(code: str, tag: int, before, after, o: DeidOptions, days: int) -> str | None:
    """None when ``after`` (the copy's element or None) fits ``code``, else what is wrong."""
    vr = before.VR
    if code == "X":
        return None if after is None else "kept, should be removed"
    if code == "K":
        if after is None:
            return "removed, should be kept"
        return None if vr == "SQ" or after.value == before.value else "changed, should be kept"
    if code == "U":
        if after is None or empty(after) or after.value == before.value:
            return "UID not replaced"
        return None
    if code == "C":
        if after is None:
            return "removed, should be kept cleaned"
        if vr in ("DA", "DT"):
            value = str(before.value or "")
            if not value:
                return None if empty(after) else "an empty date filled in"
            day = dt.datetime.strptime(value[:8], "%Y%m%d").date() + dt.timedelta(days=days)
            want = day.strftime("%Y%m%d") + value[8:]
            return None if after.value == want else f"{after.value} != {want} (shifted)"
        if vr == "TM":
            return None if after.value == before.value else "time changed"
        if vr in ("LO", "LT", "ST", "UT", "UC", "SH", "PN"):
            # Every identifying attribute holds TEXT here, so all of it names the patient;
            # what cleaning keeps is checked on real descriptions in test_export_real.py.
            text = str(after.value)
            if "Doe" in text or "MRN12345" in text:
                return f"not cleaned: {text!r}"
        return None
    choices = code.rstrip("*").split("/")
    if after is None:
        return None if "X" in choices else "removed"
    if vr == "SQ":
        if empty(after):
            return None if ("Z" in choices or "D" in choices) else "emptied"
        ref = after.value[0].get("ReferencedSOPInstanceUID")
        return None if ref != before.value[0].ReferencedSOPInstanceUID else "UIDs inside kept"
    if empty(after):
        return None if "Z" in choices else "emptied, needs a dummy"
    if "D" in choices or "U" in choices:
        return None if after.value != before.value else "value kept"
    return "value kept"
