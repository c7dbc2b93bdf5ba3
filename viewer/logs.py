"""The user log: where it lives, how it is written, and what keeps patient data out of it.

The log is ``$XDG_STATE_HOME/radviewer/radviewer.log`` (``~/.local/state/radviewer`` by
default), rotated at 1 MiB with three old files kept. Hard crashes of the interpreter
(segmentation faults in a native library) are written by :mod:`faulthandler` to
``fatal.log`` beside it.

No patient data: log messages name code and files, never DICOM values, and as a second line of
defence :class:`Redactor` replaces the identifiers of every study opened in this session
(patient name and its parts, patient ID, birth date, accession number) by ``[redacted]`` in
every record before it is written, tracebacks included.

Paths: study folders are often named after the patient (``/media/usb/DOE_JOHN/CT1``). Every
folder opened is registered with :func:`remember_root` before anything can log it (the command
line's PATH in ``viewer.cli.main``, ``MainWindow.open_folder``, and every folder scan,
:func:`viewer.dicom.scan.iter_scan`), and from then on each log record has:

- the folder itself (as given, absolute and with symlinks resolved) replaced by ``<study>``;
- anything below it replaced by ``<study>/…/NAME`` when the last part is a machine-made file
  name (``IM0001``, ``000123.dcm``, a UID, ``DICOMDIR``: useful in a bug report, names no one),
  else by ``<study>/[path]``.

A last part with spaces ends before the longest prefix that exists on disk, or after a
machine-made name; otherwise the rest of the line up to a colon, quote or bracket is hidden
with it. A sub-folder name with a colon, quote or bracket ends the match early (rare).
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import re
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path

LOG_NAME = "radviewer.log"
REDACTED = "[redacted]"
STUDY = "<study>"
HIDDEN_PATH = "[path]"
# File names that carry no one's name: an optional short prefix (IM, IMG, MR), digits, dots
# (UIDs) and an extension; and DICOMDIR.
_MACHINE_NAME = re.compile(r"(?:[A-Za-z]{0,3}[0-9][0-9._-]*(?:\.[A-Za-z]{1,5})?|DICOMDIR)")
# Below the root: folders (any characters but a slash, newline, quote, colon or bracket,
# followed by another slash), then the last part, which may hold spaces ("CT CHEST DOE") and
# so can run on into the message's words: :func:`_study_path` gives back the words after the
# longest part that exists on disk.
_BELOW = r"(?P<below>(?:/[^/\n'\":()\[\]]*(?=/))*(?:/[^/\n'\":,;()\[\]]*)?)"
_ANYWHERE_TERM = 5  # identifiers this long are hidden wherever they appear, even inside words
_MIN_TERM = 3  # shorter name parts ("Li", initials) would redact ordinary words


def log_dir() -> Path:
    """The user's log folder for radviewer (created)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    d = Path(base) / "radviewer"
    d.mkdir(parents=True, exist_ok=True)
    return d


class Redactor(logging.Filter):
    """Replaces known patient identifiers in log records (case-insensitive)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._terms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._roots: set[str] = set()
        self._paths: re.Pattern[str] | None = None

    def add_root(self, root: str | os.PathLike) -> None:
        """Redact ``root`` (a study folder or file) and every path below it from now on."""
        given = os.fsdecode(os.fspath(root))
        forms = {given.rstrip("/") or given}
        for f in (os.path.abspath, os.path.realpath):
            try:
                forms.add(f(given).rstrip("/") or "/")
            except (OSError, ValueError):  # a path the OS rejects is still redacted as given
                pass
        # "/" or "." would match every path: those come in their absolute form only.
        forms = {f for f in forms if len(f) > 1 and f not in (".", "..")}
        if not forms:
            return
        with self._lock:
            self._roots.update(forms)
            ordered = sorted(self._roots, key=len, reverse=True)  # the deepest root first
            # A root starts and ends at a path boundary: "/data/DOE" must not eat
            # "/data/DOEX", nor a relative "DOE" the end of "/x/JANEDOE".
            self._paths = re.compile(
                r"(?<![\w./~-])(?:" + "|".join(re.escape(r) for r in ordered)
                + r")(?![^/\s'\":,;()\[\]])" + _BELOW)

    def redact_paths(self, text: str) -> str:
        """``text`` with every registered study folder and the paths below it hidden."""
        pattern = self._paths
        return pattern.sub(_study_path, text) if pattern is not None else text

    def add_patient(self, *, name: str = "", patient_id: str = "", birth_date: str = "",
                    accession: str = "") -> None:
        """Remember one patient's identifiers; ``name`` is a DICOM PN (``Family^Given``)."""
        terms = {patient_id.strip(), birth_date.strip(), accession.strip()}
        clean = name.replace("^", " ").replace("=", " ").strip()
        terms.add(clean)
        terms.update(clean.split())
        self.add_terms(terms)

    def add_terms(self, terms: Iterable[str]) -> None:
        with self._lock:
            self._terms.update(t for t in terms if len(t) >= _MIN_TERM)
            # Longest first, so "Jane Doe" is replaced whole before "Jane". A short term
            # (a name part like "Li", "Ong") is hidden only as a token of its own: inside a
            # word it would maul the log ("ZeroDivisi[redacted]rror") and hide nothing.
            ordered = sorted(self._terms, key=len, reverse=True)
            alts = [re.escape(t) if len(t) >= _ANYWHERE_TERM
                    else rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])" for t in ordered]
            self._pattern = re.compile("|".join(alts), re.IGNORECASE) if alts else None

    def redact(self, text: str) -> str:
        """``text`` with study paths and known patient identifiers hidden."""
        text = self.redact_paths(text)
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is not None or self._paths is not None:
            message = record.getMessage()
            if record.exc_info:  # format the traceback now, so it is redacted too
                message += "\n" + "".join(traceback.format_exception(*record.exc_info))
                record.exc_info = None
                record.exc_text = None
            record.msg = self.redact(message)
            record.args = None
        return True


_MAX_STATS = 8  # file-system checks per path in one log line (slow media: keep it cheap)


def _study_path(m: re.Match[str]) -> str:
    full, below = m.group(0), m.group("below")
    rest = ""
    if " " in below or "\t" in below:
        # Where the path ends: before the longest prefix that exists, or after a
        # machine-made name ("IM0001 skipped"), else at the end (hiding words of the message
        # is better than showing part of a name).
        # Folders end at their slash: only the last part is in doubt.
        head = len(full) - len(below)
        last = below.rfind("/") + head + 1  # where the last part starts
        cuts = [i for i, c in enumerate(full) if c in " \t" and i > last]
        for cut in cuts[::-1][:_MAX_STATS]:  # bounded: a log line never costs many stats
            if os.path.lexists(full[:cut]):
                break
        else:
            cut = cuts[0] if cuts and _MACHINE_NAME.fullmatch(full[last:cuts[0]]) else None
        if cut is not None:
            full, rest = full[:cut], full[cut:]
        below = full[head:].rstrip()
        rest = full[head + len(below):] + rest
    if not below or below == "/":
        return STUDY + below + rest
    name = below.rsplit("/", 1)[1]
    if _MACHINE_NAME.fullmatch(name):
        return (f"{STUDY}/{name}" if below.count("/") == 1 else f"{STUDY}/…/{name}") + rest
    return f"{STUDY}/{HIDDEN_PATH}" + rest


REDACTOR = Redactor()
_handler: logging.Handler | None = None
_fatal_file = None


def setup_logging(folder: Path | None = None) -> Path:
    """Send the ``radviewer`` and ``viewer`` loggers to the user log; returns its path.

    Idempotent; the handler carries :data:`REDACTOR`.
    """
    global _handler
    folder = folder or log_dir()
    path = folder / LOG_NAME
    if _handler is not None and Path(getattr(_handler, "baseFilename", "")) == path:
        return path
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2**20, backupCount=3,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    handler.addFilter(REDACTOR)
    for name in ("radviewer", "viewer"):
        lg = logging.getLogger(name)
        if _handler is not None:
            lg.removeHandler(_handler)
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    _handler = handler
    return path


def enable_fatal_log(folder: Path | None = None) -> Path | None:
    """Write interpreter crashes (native faults) to ``fatal.log`` in the log folder."""
    global _fatal_file
    path = (folder or log_dir()) / "fatal.log"
    try:
        _fatal_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process)
    except OSError:
        return None
    faulthandler.enable(file=_fatal_file)
    return path


def remember_root(root: str | os.PathLike) -> None:
    """Hide ``root`` (a folder being opened) and the paths below it in the log, from now on."""
    REDACTOR.add_root(root)


def remember_catalog(catalog) -> None:
    """Add the identifiers of every patient and study in ``catalog`` to :data:`REDACTOR`."""
    for p in catalog.patients:
        REDACTOR.add_patient(name=p.name, patient_id=p.patient_id, birth_date=p.birth_date)
    for st in catalog.all_stacks():  # every volume of a 4-D series too
        h = st.first
        REDACTOR.add_patient(name=h.patient_name, patient_id=h.patient_id,
                             birth_date=h.patient_birth_date, accession=h.accession_number)


def format_exception(etype, value, tb) -> str:
    """A traceback for the log: code locations and the message, without local variables."""
    return "".join(traceback.format_exception(etype, value, tb))


def stop_logging() -> None:
    """Detach and close the user log (tests; the app keeps it to the end)."""
    global _handler
    if _handler is None:
        return
    for name in ("radviewer", "viewer"):
        logging.getLogger(name).removeHandler(_handler)
    _handler.close()
    _handler = None
