"""The action of DICOM PS3.15 Table E.1-1 for each attribute, under the options chosen.

The Basic Application Level Confidentiality Profile column comes from dicom-anonymizer
(Kitware, BSD): its ``dicomfields_2026c`` table is generated from the current standard by a
script in that project and kept up to date with each edition; pydicom and highdicom ship no
such table, and dicognito/deid encode their own policies rather than the standard's column.
dicom-anonymizer has no option columns: those are in :mod:`viewer.deid.options_table`.

Actions: X remove, Z empty, D dummy, U remap UID, K keep, C clean. The compound codes let
the de-identifier pick by the IOD's attribute type; without a per-IOD type table, radviewer
picks the choice that is valid for every type and keeps no information (:func:`resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pydicom.datadict import tag_for_keyword

from viewer.deid import options_table as opt

# DICOM code values (scheme DCM, CID 7050) of the profile and the options radviewer offers.
CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "safe_private": ("113111", "Retain Safe Private Option"),
    "patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates "
                       "Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
}

# dicom-anonymizer's category names -> the table's action code.
_CATEGORIES = {
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}


# Beyond the table's rows: Text Value, the free text of SR content items, is covered by the
# table through Content Sequence (D). radviewer keeps the content tree (codes, numbers and
# references stay, UIDs remapped, names and dates replaced by the table's own rows inside it)
# and replaces each text by a dummy, so the report stays valid and says nothing of anyone.
_BEYOND_TABLE = {0x0040A160: "D"}  # Text Value


@dataclass(frozen=True)
class DeidOptions:
    """The PS3.15 options a research user picks (all off: the Basic Profile alone)."""

    modified_dates: bool = False  # shift dates by a per-patient offset (DCM 113107)
    patient_characteristics: bool = False  # keep age, sex, size, weight... (DCM 113108)
    clean_descriptors: bool = False  # keep descriptions, cleaned of identifiers (DCM 113105)
    safe_private: bool = False  # keep the private attributes known safe (DCM 113111)

    def chosen(self) -> list[str]:
        """Keys of :data:`CODES` in force: the profile, then the options set."""
        return ["basic"] + [k for k in ("safe_private", "patient_characteristics",
                                        "modified_dates", "clean_descriptors")
                            if getattr(self, k)]


def _tags(keywords) -> dict[int, str]:
    return {tag_for_keyword(k): k for k in keywords}


def basic_table() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    """The Basic Profile column: ``{tag: action}`` and the repeating-group rows
    ``(group, element, group mask, element mask, action)`` (overlays, curves)."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table

    single: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, action in _CATEGORIES.items():
        for row in getattr(table, category):
            if len(row) == 2:
                single[(row[0] << 16) | row[1]] = action
            else:
                masked.append((*row, action))
    return single, masked


def resolve(action: str, is_sequence: bool, references: bool = False) -> str:
    """One concrete action for a compound code: D where the choice includes it (a dummy is
    valid for Type 1, 2 and 3 alike), Z for X/Z. For a sequence, the dummy that keeps an IOD
    whole is its references with their UIDs remapped (U): taken when the items hold nothing
    but references (``references``) and the code offers D or U, and always for X/Z/U*, so
    that SEG/SR/derived images still resolve. Any other sequence is emptied (Z), or removed
    (X) for X/D, whose sequences are Type 3."""
    if action == "X/Z/U*" or (is_sequence and references and "D" in action):
        return "U"
    if "/" not in action:
        return action
    if is_sequence:
        return "X" if action == "X/D" else "Z"
    return "D" if "D" in action else "Z"


class Profile:
    """Table E.1-1 under ``options``: :meth:`action` for a tag."""

    def __init__(self, options: DeidOptions) -> None:
        self.options = options
        self.single, self.masked = basic_table()

    @cached_property
    def overrides(self) -> dict[int, str]:
        """The options' actions, which override the Basic Profile."""
        o = self.options
        out: dict[int, str] = {}
        if o.clean_descriptors:
            out.update(dict.fromkeys(_tags(opt.CLEAN_DESCRIPTORS_CLEAN), "C"))
        if o.modified_dates:
            out.update(dict.fromkeys(_tags(opt.MODIFIED_DATES_CLEAN), "C"))
        if o.patient_characteristics:
            out.update(dict.fromkeys(_tags(opt.PATIENT_CHARACTERISTICS_CLEAN), "C"))
            out.update(dict.fromkeys(_tags(opt.PATIENT_CHARACTERISTICS_KEEP), "K"))
        return out

    def only_references(self, items) -> bool:
        """Whether these sequence items (nested ones too) hold nothing but UIDs, numbers,
        private attributes (removed) and attributes this table has a row for (handled by
        it): then keeping the items, de-identified, hides everything, as a dummy would."""
        for item in items:
            for elem in item:
                if elem.VR == "SQ":
                    if not self.only_references(elem.value):
                        return False
                elif not (elem.VR in ("UI", "US", "UL", "IS", "SS", "SL", "AT")
                          or elem.tag.is_private or self.action(int(elem.tag)) is not None):
                    return False
        return True

    def action(self, tag: int) -> str | None:
        """The (possibly compound) action for ``tag``; None when the table does not list it."""
        hit = self.overrides.get(tag)
        if hit is not None:
            return hit
        hit = self.single.get(tag)
        if hit is not None:
            return hit
        group, element = tag >> 16, tag & 0xFFFF
        for g, e, gmask, emask, act in self.masked:
            if group & gmask == g and element & emask == e:
                return act
        return _BEYOND_TABLE.get(tag)
