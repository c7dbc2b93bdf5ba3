"""Patient -> Study -> Series -> stacks, plus non-image objects linked to what they reference."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from viewer.dicom import volumes
from viewer.dicom.header import InstanceHeader
from viewer.dicom.stacks import Stack, build_stacks

log = logging.getLogger(__name__)


def patients_warning(n_patients: int) -> str:
    """"This folder holds 2 patients — ..." for more than one patient, else "" (one wording
    for the window's banner, its status bar and ``radviewer info``)."""
    if n_patients < 2:
        return ""
    return f"This folder holds {n_patients} patients — check which one you are reading"


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
    """One series of one study of one patient.

    ``uid`` is the Series Instance UID (0020,000E) as written ("" when absent); ``key`` is
    unique in the catalog: the UID, or the UID plus a suffix when the UID is absent or
    reused by another patient or study.
    """

    uid: str
    number: int | None
    modality: str
    description: str
    stacks: list[Stack] = field(default_factory=list)
    objects: list[NonImageObject] = field(default_factory=list)
    key: str = ""


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
    indexes: list[str] = field(default_factory=list)  # DICOMDIRs read for the files they list

    @property
    def multiple_patients_warning(self) -> str:
        """The warning a reader must see when the folder holds several patients, else ""."""
        return patients_warning(len(self.patients))

    def series(self) -> list[Series]:
        return [s for p in self.patients for st in p.studies for s in st.series]

    def stacks(self) -> list[Stack]:
        """Image stacks in browsing order (patient, study, series number): a 4-D series
        appears once, as its first volume (see :mod:`viewer.dicom.volumes`)."""
        return volumes.entries(self.all_stacks())

    def all_stacks(self) -> list[Stack]:
        """Every stack, each volume of a 4-D series included."""
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
            for st in self.all_stacks():
                if st.uid == key:
                    return st
            for st in stacks:
                if st.series_uid == key:
                    return st
        raise KeyError(f"no series {key!r}: choose 1..{len(stacks)} or a Series Instance UID")


def _group_volumes(series: Series) -> None:
    """Join the stacks of a 4-D series as volumes (time, diffusion, echo), in stack order."""
    base = series.description or series.modality or "series"
    try:
        if volumes.group_volumes(series.stacks, base):
            series.stacks.sort(key=lambda st: st.index_in_series)
    except (ValueError, ArithmeticError, TypeError):  # stacks stay separate; each still shows
        for st in series.stacks:
            st.volumes = None


def _series_sort_key(s: Series) -> tuple:
    return (s.number is None, s.number or 0, s.description, s.key)


PatientKey = tuple[str, str]
# (patient, Study Instance UID, Series Instance UID, then for files without a series UID:
# Series Number, Modality, Series Description).
SeriesKey = tuple


def _series_key(h: InstanceHeader) -> SeriesKey:
    """Files group into one series only within one patient and study: a Series Instance UID
    reused across patients or studies (copied headers, broken anonymisers) never merges
    them, and files without one group by what the scanner wrote instead."""
    base = ((h.patient_id, h.patient_name), h.study_uid, h.series_uid)
    if h.series_uid:
        return base
    return (*base, h.series_number, h.modality, h.series_description)


def _unique_keys(keys: Iterable[SeriesKey]) -> dict[SeriesKey, str]:
    """A catalog-unique string per series: the UID itself when only one series carries it,
    else ``UID@n`` (``no-series-uid@n`` without a UID) numbered in patient/study order."""
    by_uid: dict[str, list[SeriesKey]] = defaultdict(list)
    for k in keys:
        by_uid[k[2]].append(k)
    out: dict[SeriesKey, str] = {}
    for uid, ks in by_uid.items():
        if uid and len(ks) == 1:
            out[ks[0]] = uid
            continue
        ks.sort(key=lambda k: tuple("" if v is None else str(v) for v in k))
        for i, k in enumerate(ks, 1):
            out[k] = f"{uid or 'no-series-uid'}@{i}"
    return out


def build_catalog(
    headers: Iterable[InstanceHeader],
    skipped: Iterable[SkippedFile] = (),
    root: str = "",
    cancelled: bool = False,
) -> Catalog:
    """Group headers into the Patient/Study/Series hierarchy and split series into stacks.

    Patients are told apart by (Patient ID, Patient's Name), studies by Study Instance UID
    within a patient, series by :func:`_series_key`. Duplicate SOP Instance UIDs (the same
    image copied twice in a folder) are kept once.
    """
    seen: dict[str, str] = {}  # SOP Instance UID -> path of the file kept
    by_series: dict[SeriesKey, list[InstanceHeader]] = defaultdict(list)
    skipped = list(skipped)
    # In path order (headers arrive in scan-completion order): of two copies of an instance,
    # the lexicographically first path is kept, the same every time.
    for h in sorted(headers, key=lambda h: h.path):
        if h.sop_instance_uid:
            kept = seen.get(h.sop_instance_uid)
            if kept is not None:
                base = root if os.path.isdir(root) else os.path.dirname(root)
                shown = os.path.relpath(kept, base) if base else kept
                skipped.append(SkippedFile(h.path, f"duplicate of {shown} (same SOP Instance "
                                           "UID; that one is shown)"))
                continue
            seen[h.sop_instance_uid] = h.path
        by_series[_series_key(h)].append(h)
    unique = _unique_keys(by_series)

    patients: dict[PatientKey, Patient] = {}
    studies: dict[tuple[PatientKey, str], Study] = {}
    all_objects: list[tuple[PatientKey, NonImageObject]] = []
    for skey, hs in by_series.items():
        h0 = hs[0]
        pkey = skey[0]
        patient = patients.get(pkey)
        if patient is None:
            patient = Patient(h0.patient_id, h0.patient_name, h0.patient_birth_date)
            patients[pkey] = patient
        study = studies.get((pkey, h0.study_uid))
        if study is None:
            study = studies[(pkey, h0.study_uid)] = Study(
                h0.study_uid, h0.study_date, h0.study_description, h0.accession_number
            )
            patient.studies.append(study)
        key = unique[skey]
        series = Series(h0.series_uid, h0.series_number, h0.modality, h0.series_description,
                        key=key)
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
            all_objects.append((pkey, obj))
        try:
            series.stacks = build_stacks(images)
        except Exception as exc:  # one series' bad values never hide the rest of the study
            # A bug, not bad input: its traceback goes to the log (paths redacted there).
            log.exception("series of %s cannot be arranged", images[0].path if images else "?")
            series.stacks = []
            skipped.extend(
                SkippedFile(h.path, f"series cannot be arranged ({type(exc).__name__}); "
                            "report this file to us")
                for h in images
            )
        for st in series.stacks:
            base = series.description or series.modality or "series"
            st.label = f"{base} ({st.split_reason})" if st.split_reason else base
            if key != series.uid:
                st.series_key = key
        _group_volumes(series)
        study.series.append(series)

    # A SEG/SR/PR links to the series it references of its own patient only.
    stacks_by_series: dict[tuple[PatientKey, str], list[Stack]] = defaultdict(list)
    for (pkey, _), study in studies.items():
        study.series.sort(key=_series_sort_key)
        for s in study.series:
            if s.uid:
                stacks_by_series[(pkey, s.uid)].extend(s.stacks)
    for pkey, obj in all_objects:
        for ref in obj.referenced_series_uids:
            for st in stacks_by_series.get((pkey, ref), []):
                obj.linked_stacks.append(st)
                st.linked_objects.append(obj)

    ordered = sorted(patients.values(), key=lambda p: (p.patient_id, p.name))
    for p in ordered:
        p.studies.sort(key=lambda s: (s.date, s.uid))
    return Catalog(root, ordered, skipped, cancelled)
