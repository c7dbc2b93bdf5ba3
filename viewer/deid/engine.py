"""De-identify data sets in place by PS3.15 Table E.1-1, consistently across one export.

One :class:`Deidentifier` serves one export: the same original UID always becomes the same new
UID (in SOP Instance UID and in every reference to it, Frame of Reference UID included), and
each patient gets one pseudonym and one date offset. Nothing of the mapping is written out.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary, generate_uid

from viewer.deid.options_table import SAFE_PRIVATE
from viewer.deid.profile import CODES, DeidOptions, Profile, resolve
from viewer.deid.values import clean_text, dummy, identifying_terms, shift

# A date shift of one to ten years back, in days: far enough that the true dates cannot be
# guessed from the season, whole days so weekday-free intervals between studies are kept.
SHIFT_RANGE_DAYS = (-3652, -366)
# D on these sequences: their items are de-identified by the table (SR content, graphic
# annotations); any other sequence marked D is emptied (its items would be identifying codes).
_RECURSE_ON_D = {0x0040A730, 0x00700001}  # Content Sequence, Graphic Annotation Sequence


@dataclass(frozen=True)
class Alias:
    """What replaces one patient's identity: a pseudonym (Patient's Name and ID) and the
    date shift in days (0 when dates are not kept)."""

    pseudonym: str
    days: int


class Deidentifier:
    """Apply the profile and ``options`` to data sets, one export at a time."""

    def __init__(self, options: DeidOptions, pseudonym_prefix: str = "ANON",
                 rng: random.Random | None = None) -> None:
        self.options = options
        self.profile = Profile(options)
        self.prefix = pseudonym_prefix
        self._rng = rng or secrets.SystemRandom()
        self._uids: dict[str, str] = {}
        self._patients: dict[tuple[str, str], Alias] = {}

    def uid(self, old: str) -> str:
        """The new UID for ``old`` (a fresh random 2.25 UID the first time, then the same)."""
        old = str(old).strip()
        if not old:
            return old
        new = self._uids.get(old)
        if new is None:
            new = self._uids[old] = str(generate_uid(prefix=None))
        return new

    def alias(self, ds: Dataset) -> Alias:
        """The pseudonym and date shift of the patient of ``ds`` (by Patient ID and Name)."""
        key = (str(ds.get("PatientID", "") or ""), str(ds.get("PatientName", "") or ""))
        found = self._patients.get(key)
        if found is None:
            days = self._rng.randint(*SHIFT_RANGE_DAYS) if self.options.modified_dates else 0
            found = Alias(f"{self.prefix}{len(self._patients) + 1:04d}", days)
            self._patients[key] = found
        return found

    @property
    def patients(self) -> int:
        return len(self._patients)

    def apply(self, ds: Dataset) -> Alias:
        """De-identify ``ds`` in place (file meta aside: the writer replaces it)."""
        alias = self.alias(ds)
        terms = identifying_terms(ds)
        self._walk(ds, alias.days, terms)
        ds.PatientName = alias.pseudonym  # Z allows a dummy: one per patient keeps them apart
        ds.PatientID = alias.pseudonym
        ds.PatientIdentityRemoved = "YES"
        chosen = self.options.chosen()
        from viewer import __version__

        ds.DeidentificationMethod = [f"radviewer {__version__} PS3.15 Annex E"] + [
            CODES[k][1] for k in chosen]
        items = []
        for k in chosen:
            item = Dataset()
            item.CodeValue, item.CodeMeaning = CODES[k]
            item.CodingSchemeDesignator = "DCM"
            items.append(item)
        ds.DeidentificationMethodCodeSequence = items
        ds.LongitudinalTemporalInformationModified = (
            "MODIFIED" if self.options.modified_dates else "REMOVED")
        return alias

    def _walk(self, ds: Dataset, days: int, terms: list[str]) -> None:
        for elem in list(ds):
            if elem.tag.is_private:
                continue  # below, with their private creators
            if elem.tag.group == 0x0002:  # file meta misplaced in the data set: rewritten
                del ds[elem.tag]
                continue
            vr = elem.VR
            action = self.profile.action(int(elem.tag))
            if action is None:  # not in the table: dates by their VR (E.1.1 note 4), UIDs
                if vr in ("DA", "DT"):
                    action = "C" if self.options.modified_dates else "Z"
                elif vr == "UI":
                    action = "U" if _instance_uid(elem) else "K"
                else:
                    action = "K"
            refs = vr == "SQ" and bool(elem.value) and self.profile.only_references(elem.value)
            self._do(ds, elem, resolve(action, vr == "SQ", refs), days, terms)
        self._privates(ds)

    def _do(self, ds: Dataset, elem, action: str, days: int, terms: list[str]) -> None:
        vr = elem.VR
        if action == "X":
            del ds[elem.tag]
        elif vr == "SQ":
            if action == "Z" or (action == "D" and int(elem.tag) not in _RECURSE_ON_D):
                elem.value = []
            else:  # K, C, U and the D sequences above: the table applies inside each item
                for item in elem.value:
                    self._walk(item, days, terms)
        elif action == "Z":
            elem.value = None
        elif action == "D":
            elem.value = self.uid(elem.value) if vr == "UI" else dummy(vr)
        elif action == "U":
            if vr == "UI" and elem.value not in (None, ""):
                v = elem.value
                elem.value = self.uid(v) if isinstance(v, str) else [self.uid(u) for u in v]
            elif vr != "UI":
                elem.value = None
        elif action == "C":
            if vr in ("DA", "DT", "TM"):
                elem.value = shift(vr, elem.value, days)
            else:
                elem.value = clean_text(elem.value, terms)
        # K: kept as it is

    def _privates(self, ds: Dataset) -> None:
        """Remove private attributes, except (Retain Safe Private) those of Table E.3.10-1,
        which keep their private creator."""
        creators = {(e.tag.group, e.tag.element): str(e.value).strip()
                    for e in ds if e.tag.is_private_creator}
        used: set[tuple[int, int]] = set()
        for elem in list(ds):
            tag = elem.tag
            if not tag.is_private or tag.is_private_creator:
                continue
            block = (tag.group, tag.element >> 8)
            creator = creators.get(block)
            if (self.options.safe_private and creator is not None
                    and (creator, tag.group, tag.element & 0xFF) in SAFE_PRIVATE):
                used.add(block)
            else:
                del ds[tag]
        for group, element in creators:
            if (group, element) not in used:
                del ds[(group << 16) | element]


def _instance_uid(elem) -> bool:
    """Whether a UI attribute the table does not list names an instance (remapped) rather
    than a class, transfer syntax or other UID the standard defines (kept)."""
    kw = elem.keyword or ""
    if kw.endswith("ClassUID") or "TransferSyntax" in kw:
        return False
    values = elem.value if isinstance(elem.value, list) else [elem.value]
    return not all(str(v) in UID_dictionary for v in values if v)
