"""Patient -> Study -> Series -> stacks, plus non-image objects linked to what they reference."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from viewer.dicom.header import InstanceHeader
from viewer.dicom.stacks import Stack, build_stacks


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file the scan could not use, and why (the reason says what to do next)."""

    path: str
    reason: str


@dataclass(eq=False)
class NonImageObject:
    """A SEG, SR, RTSTRUCT, PR, KO (...) object and the stacks of the series it references."""

    header: InstanceHeader
    kind: str
    referenced_series_uids: tuple[str, ...]
    linked_stacks: list[Stack] = field(default_factory=list)


@dataclass(eq=False)
class Series:
    uid: str
    number: int | None
    modality: str
    description: str
    stacks: list[Stack] = field(default_factory=list)
    objects: list[NonImageObject] = field(default_factory=list)


@dataclass(eq=False)
class Study:
    uid: str
    date: str
    description: str
    accession_number: str
    series: list[Series] = field(default_factory=list)


@dataclass(eq=False)
class Patient:
    patient_id: str
    name: str
    birth_date: str
    studies: list[Study] = field(default_factory=list)


@dataclass(eq=False)
class Catalog:
    """Everything found under one folder."""

    root: str
    patients: list[Patient] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    cancelled: bool = False

    def series(self) -> list[Series]:
        return [s for p in self.patients for st in p.studies for s in st.series]

    def stacks(self) -> list[Stack]:
        """All image stacks in browsing order (patient, study, series number)."""
        return [stk for s in self.series() for stk in s.stacks]

    def objects(self) -> list[NonImageObject]:
        return [o for s in self.series() for o in s.objects]

    def find_stack(self, key: str | int) -> Stack:
        """A stack by 1-based browsing number, stack uid or series UID (first stack).

        Raises
        ------
        KeyError
            With the list of valid choices.
        """
        stacks = self.stacks()
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            n = int(key)
            if 1 <= n <= len(stacks):
                return stacks[n - 1]
        else:
            for st in stacks:
                if st.uid == key:
                    return st
            for st in stacks:
                if st.series_uid == key:
                    return st
        raise KeyError(f"no series {key!r}: choose 1..{len(stacks)} or a Series Instance UID")


def _series_sort_key(s: Series) -> tuple:
    return (s.number is None, s.number or 0, s.description, s.uid)


def build_catalog(
    headers: Iterable[InstanceHeader],
    skipped: Iterable[SkippedFile] = (),
    root: str = "",
    cancelled: bool = False,
) -> Catalog:
    """Group headers into the Patient/Study/Series hierarchy and split series into stacks.

    Duplicate SOP Instance UIDs (the same image copied twice in a folder) are kept once.
    """
    seen: set[str] = set()
    by_series: dict[str, list[InstanceHeader]] = defaultdict(list)
    skipped = list(skipped)
    for h in headers:
        if h.sop_instance_uid:
            if h.sop_instance_uid in seen:
                skipped.append(SkippedFile(h.path, "duplicate of an instance already loaded"))
                continue
            seen.add(h.sop_instance_uid)
        by_series[h.series_uid].append(h)

    patients: dict[tuple[str, str], Patient] = {}
    studies: dict[str, Study] = {}
    all_objects: list[NonImageObject] = []
    for uid, hs in by_series.items():
        h0 = hs[0]
        pkey = (h0.patient_id, h0.patient_name)
        patient = patients.get(pkey)
        if patient is None:
            patient = Patient(h0.patient_id, h0.patient_name, h0.patient_birth_date)
            patients[pkey] = patient
        study = studies.get(h0.study_uid)
        if study is None:
            study = studies[h0.study_uid] = Study(
                h0.study_uid, h0.study_date, h0.study_description, h0.accession_number
            )
            patient.studies.append(study)
        series = Series(uid, h0.series_number, h0.modality, h0.series_description)
        images = [h for h in hs if h.kind == "IMAGE"]
        for h in hs:
            if h.kind == "IMAGE":
                continue
            if h.kind == "OTHER":
                skipped.append(
                    SkippedFile(h.path, "DICOM object without pixel data (nothing to show)")
                )
                continue
            obj = NonImageObject(h, h.kind, h.referenced_series_uids)
            series.objects.append(obj)
            all_objects.append(obj)
        try:
            series.stacks = build_stacks(images)
        except Exception as exc:  # one series' bad values never hide the rest of the study
            series.stacks = []
            skipped.extend(
                SkippedFile(h.path, f"series cannot be arranged ({type(exc).__name__}); "
                            "report this file to us")
                for h in images
            )
        for st in series.stacks:
            base = series.description or series.modality or "series"
            st.label = f"{base} ({st.split_reason})" if st.split_reason else base
        study.series.append(series)

    stacks_by_series: dict[str, list[Stack]] = defaultdict(list)
    for study in studies.values():
        study.series.sort(key=_series_sort_key)
        for s in study.series:
            stacks_by_series[s.uid].extend(s.stacks)
    for obj in all_objects:
        for ref in obj.referenced_series_uids:
            for st in stacks_by_series.get(ref, []):
                obj.linked_stacks.append(st)
                st.linked_objects.append(obj)

    ordered = sorted(patients.values(), key=lambda p: (p.patient_id, p.name))
    for p in ordered:
        p.studies.sort(key=lambda s: (s.date, s.uid))
    return Catalog(root, ordered, skipped, cancelled)
