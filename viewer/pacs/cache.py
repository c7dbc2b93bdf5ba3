"""The local study cache: a folder per study, a file per instance, and a small SQLite index.

Layout under :func:`viewer.pacs.locations.study_cache_dir` (or any ``root``)::

    index.sqlite
    <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm

Folder and file names are UIDs (checked to be UIDs, so a peer cannot write outside the
cache). Each instance is written to a temporary file and renamed into place, so a file under
its final name is always complete. The index holds the patient fields needed to list cached
studies (PHI: they stay in the database and are never logged), sizes, the last time a study
was opened, and each study's state: ``retrieving``, ``partial`` (cancelled or failed, kept
for a later resume), ``complete`` or ``received`` (pushed to the Storage SCP unasked).

Thread-safe: the Storage SCP writes from pynetdicom's threads while a query runs elsewhere.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from viewer.pacs.errors import PacsError

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
STATES = ("retrieving", "partial", "complete", "received")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, patient_name TEXT, patient_id TEXT, study_date TEXT,
    description TEXT, accession TEXT, state TEXT NOT NULL, source TEXT,
    last_opened REAL, updated REAL);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, modality TEXT,
    description TEXT, number INTEGER);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL, study_uid TEXT NOT NULL,
    path TEXT NOT NULL, size INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS instances_study ON instances(study_uid);
"""


def is_uid(value: object) -> bool:
    """True for a syntactically valid UID (PS3.5 9.1: digits and dots, at most 64)."""
    s = str(value or "")
    return 0 < len(s) <= 64 and bool(_UID.match(s))


@dataclass(frozen=True)
class CachedStudy:
    """One study in the index. ``patient_name``/``patient_id`` are PHI: show, never log."""

    study_uid: str
    patient_name: str
    patient_id: str
    study_date: str
    description: str
    state: str
    source: str
    series: int
    instances: int
    size: int  # bytes
    path: Path
    last_opened: float | None  # seconds since the epoch


class StudyCache:
    """The cache at ``root`` (created on first use)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        from viewer.pacs.locations import study_cache_dir

        self.root = Path(root) if root is not None else study_cache_dir()
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._seen: set[str] = set()  # series whose study and series rows were written

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False,
                                 isolation_level=None)
            # WAL + NORMAL: a commit per instance costs no fsync; the index can always be
            # rebuilt from the files, which are what matters.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def study_dir(self, study_uid: str) -> Path:
        if not is_uid(study_uid):
            raise PacsError("a Study Instance UID is not a valid UID; refused")
        return self.root / study_uid

    # -- writing -------------------------------------------------------------------------
    def store(self, ds: Dataset, data: Iterable[bytes | memoryview] | None = None,
              source: str = "") -> Path:
        """Write one instance atomically and index it; returns its path.

        ``data``: the Part 10 file as chunks when the caller has it encoded (a received
        C-STORE, :class:`viewer.pacs.receive.Received`; ``ds`` may then hold only the
        header), else ``ds`` is written with its file meta. Raises :class:`PacsError` when a
        UID is not a UID (nothing is written).
        """
        study, series, sop = (str(ds.get(k, "")) for k in
                              ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))
        if not (is_uid(study) and is_uid(series) and is_uid(sop)):
            raise PacsError("an instance without valid Study/Series/SOP Instance UIDs; "
                            "refused")
        folder = self.root / study / series
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{sop}.dcm"
        # A temporary name of our own (mkstemp's random names cost more than the write): one
        # per thread, O_EXCL so that two writers never share one.
        tmp = folder / f".{sop}.{threading.get_ident()}.part"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # left by a crash: this thread's name, so nobody else's
            tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                if data is not None:
                    f.writelines(data)
                else:
                    ds.save_as(f, enforce_file_format=True)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        # The size of what was written (no stat call per instance when it is known).
        size = (sum(memoryview(c).nbytes for c in data) if isinstance(data, (tuple, list))
                else path.stat().st_size)
        self._index(ds, study, series, sop, path, source, size)
        return path

    def _index(self, ds: Dataset, study: str, series: str, sop: str, path: Path,
               source: str, size: int) -> None:
        now = time.time()
        number = ds.get("SeriesNumber")
        with self._lock:
            db = self._conn()
            if series in self._seen:  # its study and series rows exist: one statement
                db.execute("INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?)",
                           (sop, series, study, str(path), size))
                return
            db.execute(
                "INSERT INTO studies(study_uid, patient_name, patient_id, study_date, "
                "description, accession, state, source, updated) VALUES (?,?,?,?,?,?,?,?,?) "
                # A retrieval's set_state() may have made the row first: fill what it lacks.
                "ON CONFLICT(study_uid) DO UPDATE SET updated=excluded.updated, "
                "patient_name=COALESCE(NULLIF(studies.patient_name, ''), excluded.patient_name), "
                "patient_id=COALESCE(NULLIF(studies.patient_id, ''), excluded.patient_id), "
                "study_date=COALESCE(NULLIF(studies.study_date, ''), excluded.study_date), "
                "description=COALESCE(NULLIF(studies.description, ''), excluded.description), "
                "accession=COALESCE(NULLIF(studies.accession, ''), excluded.accession)",
                (study, str(ds.get("PatientName", "")), str(ds.get("PatientID", "")),
                 str(ds.get("StudyDate", "")), str(ds.get("StudyDescription", "")),
                 str(ds.get("AccessionNumber", "")), "received", source, now))
            db.execute("INSERT OR IGNORE INTO series VALUES (?,?,?,?,?)",
                       (series, study, str(ds.get("Modality", "")),
                        str(ds.get("SeriesDescription", "")),
                        int(number) if number not in (None, "") else None))
            db.execute("INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?)",
                       (sop, series, study, str(path), size))
            self._seen.add(series)

    def set_state(self, study_uid: str, state: str, source: str = "") -> None:
        """Mark a study ``retrieving``/``partial``/``complete``/``received`` (creating its row
        when a retrieval starts before its first instance arrives)."""
        if state not in STATES:
            raise ValueError(f"state {state!r} not in {STATES}")
        self.study_dir(study_uid)  # validates the UID
        with self._lock:
            self._conn().execute(
                "INSERT INTO studies(study_uid, state, source, updated) VALUES (?,?,?,?) "
                "ON CONFLICT(study_uid) DO UPDATE SET state=excluded.state, "
                "source=COALESCE(NULLIF(excluded.source, ''), source), updated=excluded.updated",
                (study_uid, state, source, time.time()))

    def touch(self, study_uid: str) -> None:
        """Record that a study was opened now (the study browser sorts by it)."""
        with self._lock:
            self._conn().execute("UPDATE studies SET last_opened=? WHERE study_uid=?",
                                 (time.time(), study_uid))

    def remove(self, study_uid: str) -> None:
        """Delete a study's files and index rows."""
        import shutil

        d = self.study_dir(study_uid)
        with self._lock:
            db = self._conn()
            for table in ("instances", "series", "studies"):
                db.execute(f"DELETE FROM {table} WHERE study_uid=?", (study_uid,))
            self._seen.clear()
        shutil.rmtree(d, ignore_errors=True)

    # -- reading -------------------------------------------------------------------------
    def present(self, study_uid: str) -> set[str]:
        """SOP Instance UIDs of ``study_uid`` whose files are in the cache (resume skips
        them); index rows whose file went missing are dropped."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT sop_uid, path FROM instances WHERE study_uid=?", (study_uid,)).fetchall()
            gone = [sop for sop, p in rows if not os.path.isfile(p)]
            if gone:
                self._conn().executemany("DELETE FROM instances WHERE sop_uid=?",
                                         [(g,) for g in gone])
        return {sop for sop, _ in rows} - set(gone)

    def study(self, study_uid: str) -> CachedStudy | None:
        found = self.studies(study_uid)
        return found[0] if found else None

    def studies(self, study_uid: str | None = None) -> list[CachedStudy]:
        """Cached studies, the most recently opened (or updated) first."""
        sql = ("SELECT s.study_uid, s.patient_name, s.patient_id, s.study_date, s.description,"
               " s.state, s.source, s.last_opened,"
               " (SELECT COUNT(*) FROM series r WHERE r.study_uid=s.study_uid),"
               " COUNT(i.sop_uid), COALESCE(SUM(i.size), 0)"
               " FROM studies s LEFT JOIN instances i ON i.study_uid=s.study_uid")
        args: tuple = ()
        if study_uid is not None:
            sql += " WHERE s.study_uid=?"
            args = (study_uid,)
        sql += " GROUP BY s.study_uid ORDER BY COALESCE(s.last_opened, s.updated) DESC"
        with self._lock:
            rows = self._conn().execute(sql, args).fetchall()
        return [CachedStudy(uid, name or "", pid or "", date or "", desc or "", state,
                            src or "", nser, ninst, size, self.root / uid, opened)
                for uid, name, pid, date, desc, state, src, opened, nser, ninst, size in rows]

    def instance_paths(self, study_uid: str, series_uids: Iterable[str] | None = None
                       ) -> list[Path]:
        """Paths of a study's cached instances (of some series only, when given)."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT series_uid, path FROM instances WHERE study_uid=? ORDER BY path",
                (study_uid,)).fetchall()
        wanted = set(series_uids) if series_uids is not None else None
        return [Path(p) for s, p in rows if wanted is None or s in wanted]
