"""The user log never names a study folder: paths below a folder being opened are hidden from the
first log line on, before the scan has found any patient (folders are named after patients)."""

from __future__ import annotations

import errno
import logging
import os
import shutil

import pytest

from viewer import logs
from viewer.cli import main as cli_main
from viewer.logs import REDACTOR, Redactor


@pytest.fixture
def redactor_state():
    """Restore the process-wide redactor's roots (tests register made-up folders)."""
    roots, paths = set(REDACTOR._roots), REDACTOR._paths
    yield REDACTOR
    REDACTOR._roots, REDACTOR._paths = roots, paths


@pytest.fixture
def user_log(tmp_path, monkeypatch):
    """The user log in a temporary XDG_STATE_HOME; its text via the returned function."""
    logs.stop_logging()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = logs.setup_logging()
    yield lambda: path.read_text(encoding="utf-8")
    logs.stop_logging()


@pytest.mark.parametrize(("text", "expected"), [
    ("cannot read /media/usb/DOE_JOHN/CT1/IM0001: permission denied",
     "cannot read <study>/…/IM0001: permission denied"),
    ("/media/usb/DOE_JOHN/IM0001 skipped", "<study>/IM0001 skipped"),
    ("/media/usb/DOE_JOHN: no such file or folder", "<study>: no such file or folder"),
    ("open('/media/usb/DOE_JOHN/SMITH JANE/1.2.840.10008.1.dcm')",
     "open('<study>/…/1.2.840.10008.1.dcm')"),
    ("/media/usb/DOE_JOHN/CT1/DOE_JOHN.dcm: not DICOM", "<study>/[path]: not DICOM"),
    ("/media/usb/DOE_JOHN/DICOMDIR read", "<study>/DICOMDIR read"),
    ("/media/usb/DOE_JOHN/SMITH JANE/IM1 skipped", "<study>/…/IM1 skipped"),
    ("/media/usb/DOE_JOHN/CT/SMITH JANE skipped", "<study>/[path]"),  # where does it end?
    ("/media/usb/DOE_JOHNNY/IM1 is another folder", "/media/usb/DOE_JOHNNY/IM1 is another folder"),
    ("/media/usb/DOE_JOHN/CT1/IM1: bad (see /usr/lib/x.so)",
     "<study>/…/IM1: bad (see /usr/lib/x.so)"),
])
def test_paths_below_the_root_are_hidden(text, expected):
    r = Redactor()
    r.add_root("/media/usb/DOE_JOHN/")
    assert r.redact(text) == expected


def test_relative_and_symlinked_roots(tmp_path, monkeypatch):
    real = tmp_path / "MUSTERMANN_ERIKA"
    (real / "CT1").mkdir(parents=True)
    link = tmp_path / "usb"
    link.symlink_to(real)
    monkeypatch.chdir(tmp_path)
    r = Redactor()
    r.add_root("usb")  # as the user typed it: the link, relative
    for form in ("usb/CT1/IM1", f"{link}/CT1/IM1", f"{real}/CT1/IM1"):
        assert r.redact(f"x {form} y") == "x <study>/…/IM1 y"
    assert r.redact("a busy day") == "a busy day"  # only whole path parts


def test_a_record_about_a_file_in_a_patient_folder(tmp_path, user_log, redactor_state):
    study = tmp_path / "DOE^JOHN 1947-03-02" / "CT CHEST DOE"
    study.mkdir(parents=True)
    logs.remember_root(study.parent)  # what opening the folder does, before the scan
    log = logging.getLogger("viewer.dicom.scan")
    f = study / "IM0001"
    log.warning("cannot read %s", f)
    try:
        raise OSError(errno.EACCES, "Permission denied", str(f))
    except OSError:
        log.exception("scan failed in %r", str(study))
    text = user_log()
    for part in ("DOE", "JOHN", "1947", "CHEST"):
        assert part not in text
    assert "cannot read <study>/…/IM0001" in text
    assert "Permission denied: '<study>/…/IM0001'" in text  # the traceback too


def test_cli_bug_during_the_scan_logs_no_folder_name(shared_data, tmp_path, user_log,
                                                      redactor_state, monkeypatch, capsys):
    """A failure before the scan finished (a symlink loop that escaped the walk) is logged
    with its traceback; the folder, named after a patient, is not in it."""
    study = tmp_path / "MUSTERMANN_ERIKA_19470302" / "CT1"
    study.mkdir(parents=True)
    src = sorted((shared_data / "ct-chest-lidc0314").glob("*.dcm"))[0]
    shutil.copy(src, study / "000001.dcm")
    import viewer.dicom.scan as scan

    def loop(root):
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.path.join(root, "CT1", "loop"))

    monkeypatch.setattr(scan, "find_files", loop)
    code = cli_main(["info", str(study.parent)])
    err = capsys.readouterr().err
    assert code != 0 and "bug" in err
    text = user_log()
    assert "ELOOP" in text or "Too many levels of symbolic links" in text  # it was logged
    assert "<study>" in text
    for part in ("MUSTERMANN", "ERIKA", "19470302"):
        assert part not in text


def test_short_name_parts_are_hidden_as_words_not_inside_words():
    """A 3-letter name part is a word of its own in a log line, not part of "ZeroDivisionError"
    (seen: an earlier study's patient "ONE" turned the log into "ZeroDivisi[redacted]rror");
    longer identifiers are hidden wherever they appear."""
    r = Redactor()
    r.add_patient(name="ONE^Li", patient_id="PID12345")
    assert r.redact("ZeroDivisionError: bad") == "ZeroDivisionError: bad"
    assert r.redact("patient One opened") == "patient [redacted] opened"
    assert r.redact("folder ONE_CT/") == "folder [redacted]_CT/"
    assert r.redact("file xPID12345y.dcm") == "file x[redacted]y.dcm"
