"""Every command maps every failure to one line on stderr and a documented exit code: crafted
headers, undecodable slices (``--skip-bad``), Ctrl+C, a closed stdout, and a bug."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import RLELossless
from synth_path import write_series

from viewer.cli import main
from viewer.cli_common import EXIT_CODES, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

DOCUMENTED = {code for code, _, _ in EXIT_CODES}


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viewer.cli", *args], capture_output=True,
                          text=True, timeout=180, env=env)


def _crafted(tmp_path, name: str, **changes):
    """A folder with pydicom's real CT_small.dcm, ``changes`` applied to its header."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    folder = tmp_path / name
    folder.mkdir()
    ds.save_as(folder / "image.dcm")
    return folder


def _undecodable_series(folder, bad: int = 2):
    """Five RLE slices; slice ``bad`` (0-based) keeps a valid RLE header (so it scans) but
    its segments decode to too few bytes."""
    write_series(folder, n_slices=5, transfer_syntax=RLELossless, shuffle_names=False)
    path = sorted(folder.iterdir())[bad]
    ds = pydicom.dcmread(path)
    frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    ds.PixelData = encapsulate([frame[:64] + b"\0" * (len(frame) - 64)])
    ds.save_as(path)
    return path


@pytest.mark.parametrize(("name", "changes", "code", "says"), [
    ("spacing0", {"PixelSpacing": [0, 0]}, EXIT_OK, "Pixel Spacing is not a positive number"),
    ("spacing1e308", {"PixelSpacing": [1e308, 1e308]}, EXIT_OK, "lengths are in px"),
    ("rows0", {"Rows": 0}, EXIT_USAGE, "without a valid Rows (0028,0010)"),
])
def test_crafted_headers_give_one_line_and_a_documented_code(tmp_path, name, changes, code,
                                                             says):
    folder = _crafted(tmp_path, name, **changes)
    r = _run("export", str(folder), "--out", str(tmp_path / "view.png"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and code in DOCUMENTED, r.stderr
    assert len(lines) == 1 and lines[0].startswith("radviewer export: ") and says in lines[0]
    assert "Traceback" not in r.stderr
    assert (tmp_path / "view.png").exists() == (code == EXIT_OK)


def test_an_undecodable_slice_fails_unless_skip_bad(tmp_path):
    bad = _undecodable_series(tmp_path / "study")
    out = tmp_path / "slices"
    r = _run("export", str(tmp_path / "study"), "--out", str(out), "--quiet")
    assert r.returncode == EXIT_USAGE
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"radviewer export: {bad}: cannot decode RLE Lossless pixel data")
    assert line.endswith("(--skip-bad leaves such slices out)")
    assert not out.exists()  # nothing partial, not even the folder
    r = _run("export", str(tmp_path / "study"), "--out", str(out), "--quiet", "--skip-bad")
    assert r.returncode == EXIT_OK, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"CT_i1_s1_{k:04d}.png" for k in (1, 2, 4, 5)]
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"radviewer export: warning: skipped slice 3: {bad}: cannot decode")
    assert "1 bad slice(s) skipped" in r.stdout
    # One slice, no folder: the same file is a usage error with its name.
    r = _run("export", str(tmp_path / "study"), "--slice", "3", "--out", str(tmp_path / "x.png"))
    assert r.returncode == EXIT_USAGE and str(bad) in r.stderr and "--skip-bad" not in r.stderr


def test_ctrl_c_during_a_series_export_leaves_nothing_and_exits_130(tmp_path):
    write_series(tmp_path / "study", n_slices=300, rows=256, cols=256)
    out = tmp_path / "slices"
    proc = subprocess.Popen([sys.executable, "-m", "viewer.cli", "export",
                             str(tmp_path / "study"), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"/300" not in seen:  # the progress bar: slices are being written
        chunk = proc.stderr.read(1)
        assert chunk, "the export ended before it showed progress"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED
    lines = err.decode().replace("\r", "\n").strip().splitlines()
    assert lines[-1] == "radviewer export: interrupted; nothing was written"
    assert "Traceback" not in err.decode()
    assert not out.exists()


def test_a_closed_stdout_ends_quietly(tmp_path):
    """``radviewer info | head``: the reader goes away; no BrokenPipe traceback."""
    write_series(tmp_path / "study", n_slices=3)
    for reader in ("head -1", "true"):  # `true` exits before radviewer writes a byte
        r = subprocess.run(
            ["bash", "-c", f'"$0" -m viewer.cli info "$1" | {reader}; '
             'echo "status=${PIPESTATUS[0]}" >&2', sys.executable, str(tmp_path / "study")],
            capture_output=True, text=True, timeout=120)
        assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
        assert r.stderr.strip().splitlines()[-1] in ("status=0", f"status={EXIT_FAILURE}")
        if reader == "head -1":
            assert r.stdout.startswith(f"{tmp_path / 'study'}: 1 series")
            assert len(r.stdout.splitlines()) == 1


def test_a_bug_is_one_line_pointing_to_the_log(tmp_path, monkeypatch, capsys):
    """The last-resort boundary: an unexpected exception is neither a traceback nor its text
    (which may quote file contents) on the terminal, but its traceback is in the user log."""
    from viewer import cli_export, logs

    def broken(*args, **kwargs):
        raise ZeroDivisionError("secret value from a header")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(cli_export, "_export", broken)
    try:
        assert main(["export", "--sample", "--out", str(tmp_path / "x.png")]) == EXIT_FAILURE
    finally:
        logs.stop_logging()
        for name in ("radviewer", "viewer"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    (line,) = capsys.readouterr().err.strip().splitlines()
    log = tmp_path / "radviewer" / "radviewer.log"
    assert line == (f"radviewer export: unexpected error (ZeroDivisionError); this is a bug in "
                    f"radviewer: details are in {log}; please report it")
    text = log.read_text()
    assert "Traceback" in text and "ZeroDivisionError: secret value" in text


def test_export_and_info_missing_path(tmp_path):
    for cmd in ("export", "info"):
        extra = ["--out", str(tmp_path / "x.png")] if cmd == "export" else []
        r = _run(cmd, str(tmp_path / "nothing"), *extra)
        assert r.returncode == EXIT_USAGE
        (line,) = r.stderr.strip().splitlines()
        assert line == f"radviewer {cmd}: {tmp_path / 'nothing'}: no such file or folder"


def test_a_ct_preset_on_mr_warns(tmp_path):
    write_series(tmp_path / "mr", n_slices=3, modality="MR", rescale=None, window=None)
    r = _run("export", str(tmp_path / "mr"), "--preset", "lung", "--out",
             str(tmp_path / "x.png"))
    assert r.returncode == EXIT_OK, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line == ("radviewer export: warning: --preset lung is a CT window in HU; series [1] "
                    "is MR: try --preset auto or header")


def test_info_text_carries_no_terminal_control_characters(tmp_path):
    """A Series Description with an ESC sequence, a bidi override and NUL is printed without
    them (the rest of the text stays)."""
    folder = _crafted(tmp_path, "esc", SpecificCharacterSet="ISO_IR 192",
                      SeriesDescription="T1\x1b[2J\x1b]0;owned\x07 AX\u202e")
    r = _run("info", str(folder))
    assert r.returncode == EXIT_OK, r.stderr
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout and "\x07" not in r.stdout
    assert "T1[2J]0;owned AX" in r.stdout


def test_library_warnings_stay_off_the_terminal(tmp_path):
    """pydicom warns in its own words about a damaged file (here pydicom-data's JPEG 2000 file
    that ends early); radviewer reports the file plainly and keeps the warning out."""
    import shutil

    from pydicom.data import get_testdata_file

    src = get_testdata_file("emri_small_jpeg_2k_lossless_too_short.dcm")
    if src is None:
        pytest.skip("pydicom-data is not installed")
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(src, folder / "IM0001")
    r = _run("info", str(folder))
    assert "UserWarning" not in r.stderr and "warn_and_log" not in r.stderr, r.stderr
