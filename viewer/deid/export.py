"""Write a de-identified copy of a study or series: one file at a time, atomically, pixel data
and transfer syntax untouched; images that may carry burned-in identity are held back unless
the caller confirms; a file that cannot be read is reported and the rest go on.

The copy is laid out without identifying names: ``OUT/ANON0001/study01/series01_CT/00001.dcm``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from viewer.deid.engine import Deidentifier
from viewer.deid.profile import DeidOptions
from viewer.errors import ExportError

# Secondary Capture image storage SOP classes (single and multi-frame) and ultrasound images:
# text is often burned into their pixels, and they seldom say so (PS3.15 E.3.1).
_SC_CLASSES = {"1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1",
               "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3",
               "1.2.840.10008.5.1.4.1.1.7.4"}
_US_CLASSES = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1",
               "1.2.840.10008.5.1.4.1.1.6.2"}


@dataclass
class DeidReport:
    """What one export did. ``written[i]`` is the copy of ``sources[i]``; ``flagged`` and
    ``failed`` hold (source file, one-line reason); ``by_study`` counts the files written and
    flagged per source Study Instance UID (in memory only, never written: the audit hashes
    them)."""

    out: Path
    written: list[Path] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    flagged: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    patients: int = 0
    by_study: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def study_uids(self) -> list[str]:
        return list(self.by_study)

    def _count(self, study_uid: str, what: str) -> None:
        counts = self.by_study.setdefault(study_uid, {"written": 0, "flagged": 0})
        counts[what] += 1


def burned_in_reason(ds) -> str:
    """Why ``ds`` may show identity in its pixels ("" when it should not): Burned In
    Annotation is YES, or it is ultrasound or a secondary capture that does not say NO."""
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "Burned In Annotation is YES"
    if flag == "NO":
        return ""
    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", "")).upper()
    if modality == "US" or sop in _US_CLASSES:
        return "ultrasound without Burned In Annotation (text is often burned into the pixels)"
    if sop in _SC_CLASSES:
        return ("secondary capture without Burned In Annotation (text is often burned into "
                "the pixels)")
    return ""


def find_burned_in(files: Iterable[str | Path]) -> list[tuple[str, str]]:
    """(file, reason) for each of ``files`` that :func:`export_deidentified` would hold back
    (headers only: for a dialog that asks before the export). Unreadable files are left to
    the export, which reports them."""
    import pydicom

    found = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 (the export reports it)
            continue
        reason = burned_in_reason(ds)
        if reason:
            found.append((str(path), f"{Path(path).name}: {reason}"))
    return found


def record_audit(report: DeidReport) -> None:
    """Append the export to the audit trail: one entry per source study (its UID hashed,
    files written and held back), and one for unreadable files (they name no study)."""
    from viewer.audit import record

    for uid, counts in report.by_study.items():
        outcome = "ok" if counts["written"] and not counts["flagged"] else "partial"
        if report.cancelled:
            outcome = "cancelled"
        record("deid", study_uid=uid, destination=report.out, outcome=outcome, **counts)
    if report.failed:
        record("deid", destination=report.out, outcome="failed", failed=len(report.failed))


def study_files(catalog, stack=None) -> list[str]:
    """The files to export: every image and object of ``catalog``, or those of ``stack``'s
    series (every volume of a 4-D series) and the objects (SEG, SR...) that refer to it."""
    if stack is None:
        paths = [f.header.path for st in catalog.all_stacks() for f in st.frames]
        paths += [o.header.path for o in catalog.objects()]
    else:
        uid = stack.series_uid
        paths = [f.header.path for st in catalog.all_stacks() if st.series_uid == uid
                 for f in st.frames]
        paths += [o.header.path for o in catalog.objects()
                  if uid in o.referenced_series_uids
                  or any(s.series_uid == uid for s in o.linked_stacks)]
    return sorted(set(paths))


class _Layout:
    """Output paths that name nothing: patient pseudonym, study and series by order."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._studies: dict[str, Path] = {}
        self._series: dict[str, Path] = {}
        self._counts: dict[Path, int] = {}

    @staticmethod
    def _next(known, parent: Path) -> int:
        return sum(1 for p in known if p.parent == parent) + 1

    def path_for(self, pseudonym: str, study_uid: str, series_uid: str, modality: str) -> Path:
        study = self._studies.get(study_uid)
        if study is None:  # numbered within its patient
            patient = self.out / pseudonym
            n = self._next(self._studies.values(), patient)
            study = self._studies[study_uid] = patient / f"study{n:02d}"
        folder = self._series.get(series_uid)
        if folder is None:  # numbered within its study
            n = self._next(self._series.values(), study)
            kind = "".join(c for c in modality if c.isalnum())[:8] or "OT"
            folder = self._series[series_uid] = study / f"series{n:02d}_{kind}"
        self._counts[folder] = self._counts.get(folder, 0) + 1
        return folder / f"{self._counts[folder]:05d}.dcm"


def export_deidentified(
    files: Iterable[str | Path],
    out: str | Path,
    options: DeidOptions | None = None,
    *,
    include_burned_in: bool = False,
    pseudonym_prefix: str = "ANON",
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> DeidReport:
    """De-identify ``files`` into the empty (or new) folder ``out``.

    ``progress(done, total)`` after each file; ``cancel`` stops before the next file (the
    files written so far are complete). Raises ExportError when ``out`` is not empty or
    cannot be written (the destination's fault: nothing more could be written either).
    """
    import pydicom

    files = [str(f) for f in files]
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: not an empty folder; choose a new or empty folder for the "
                          "de-identified copy")
    deid = Deidentifier(options or DeidOptions(), pseudonym_prefix)
    layout = _Layout(out)
    report = DeidReport(out=out)
    for done, path in enumerate(files):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        name = Path(path).name
        try:
            ds = pydicom.dcmread(path, force=True)  # files without preamble or meta too
            sop_class = str(ds.SOPClassUID)
            study_uid, series_uid = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        except Exception as exc:  # noqa: BLE001 (a damaged file is reported; the rest go on)
            report.failed.append((path, f"{name}: cannot be read as DICOM ({type(exc).__name__})"
                                  "; it was left out"))
            _tick(progress, done + 1, len(files))
            continue
        reason = burned_in_reason(ds)
        if reason and not include_burned_in:
            report._count(study_uid, "flagged")
            report.flagged.append((path, f"{name}: {reason}"))
            _tick(progress, done + 1, len(files))
            continue
        syntax = _syntax(ds)
        try:
            alias = deid.apply(ds)
            target = layout.path_for(alias.pseudonym, study_uid, series_uid,
                                     str(ds.get("Modality", "")))
        except Exception as exc:  # noqa: BLE001 (one odd data set never sinks the export)
            report.failed.append((path, f"{name}: cannot be de-identified "
                                  f"({type(exc).__name__}); it was left out"))
            _tick(progress, done + 1, len(files))
            continue
        try:
            _write(ds, target, sop_class, syntax)
        except ExportError:
            raise  # the destination's fault: the next file would fail the same way
        except Exception as exc:  # noqa: BLE001 (a data set pydicom cannot encode as stored)
            report.failed.append((path, f"{name}: cannot be written in its transfer syntax "
                                  f"({type(exc).__name__}); it was left out"))
            _tick(progress, done + 1, len(files))
            continue
        report.written.append(target)
        report.sources.append(path)
        report._count(study_uid, "written")
        _tick(progress, done + 1, len(files))
    report.patients = deid.patients
    return report


def _syntax(ds) -> str:
    """The transfer syntax ``ds`` was stored in (from its file meta, or for a file without
    one, from the encoding pydicom found)."""
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        return str(syntax)
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit in (True, None):
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def _tick(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _write(ds, target: Path, sop_class: str, syntax: str) -> None:
    """Write ``ds`` with new file meta (PS3.15 E.1.1 step 7: the original's may identify),
    a zero preamble and the original transfer syntax."""
    from pydicom.dataset import FileMetaDataset

    from viewer.export.atomic import atomic_write, explain

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    ds.preamble = None  # written as 128 zero bytes
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise explain(target.parent, exc, "cannot create the folder") from exc
    atomic_write(target, lambda fh: ds.save_as(fh, enforce_file_format=True))
