"""``radviewer info``: text and the stable JSON document, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from synth_path import write_broken_files, write_series

from viewer.cli import INFO_SCHEMA, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "viewer.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_info_sample_json_is_stable():
    r = _run("info", "--sample", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == INFO_SCHEMA
    assert doc["counts"] == {"patients": 1, "series": 4, "objects": 0, "skipped": 0}
    (patient,) = doc["patients"]
    (study,) = patient["studies"]
    t1 = study["series"][0]
    assert t1["index"] == 1 and t1["modality"] == "MR"
    assert (t1["frames"], t1["rows"], t1["columns"]) == (175, 192, 192)
    assert t1["acquisition_plane"] == "SAGITTAL"
    assert t1["pixel_spacing_mm"] == [1.1458333730698, 1.1458333730698]
    assert abs(t1["slice_spacing_mm"] - 1.0) < 1e-3
    assert t1["transfer_syntax"] == "1.2.840.10008.1.2.4.80"
    assert t1["warnings"] == ["1 missing slice(s) (after slice 114)"]
    assert set(t1) >= {"uid", "series_uid", "description", "images", "edge_letters"}


def test_info_text_lists_series_and_skipped(tmp_path, capsys):
    write_series(tmp_path / "ct", n_slices=5, skip=(2,))
    write_broken_files(tmp_path / "junk")
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[1] CT" in out and "4 images" in out and "32x24" in out
    assert "missing slice" in out
    assert "Skipped files" in out and "junk/empty.dcm: not a DICOM file" in out


def test_info_missing_path_exit_2():
    r = _run("info", "/no/such/folder")
    assert r.returncode == 2
    expected = "radviewer info: /no/such/folder: no such file or folder"
    assert r.stderr.strip().splitlines() == [expected]


def test_info_folder_without_images_exit_2(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data.bin").write_bytes(b"\0" * 300)
    r = _run("info", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no DICOM image found" in lines[0] and "2 files skipped" in lines[0]


def test_window_starts_with_the_sample_without_the_heavy_libraries(tmp_path):
    """`radviewer --sample --exit-after-first-image`: the real window paints the sample's first
    slice and quits 0; onnxruntime and highdicom are not on the start-up path."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path),
               XDG_STATE_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "viewer.cli", "--sample",
                           "--exit-after-first-image"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"first image: [0-9.]+ s after launch", proc.stdout), proc.stdout
    assert "heavy modules loaded: none" in proc.stdout
    if sys.platform.startswith("linux"):  # the folder was scanned by the launch's child
        assert "launch prefetch: used" in proc.stdout, proc.stdout
    assert (tmp_path / "radviewer" / "radviewer.log").exists()  # the user log is in place


def test_analyze_without_a_study_is_a_usage_error(capsys):
    assert main(["analyze", "--model", "brainchop-tissue", "--out", "unused"]) == 2
    assert "give a study folder (PATH) or --sample" in capsys.readouterr().err


def test_help_lists_every_command_and_the_window():
    r = _run("--help")
    assert r.returncode == 0, r.stderr
    for command, words in (("info", "list the patients"), ("models", "list AI models"),
                           ("analyze", "run one model"), ("export", "annotated image")):
        assert re.search(rf"^\s+{command}\s+{words}", r.stdout, re.M), r.stdout
    assert "radviewer PATH" in r.stdout and "--sample" in r.stdout
    assert "--exit-after-first-image" in r.stdout
    assert "exit status: 0 done, 1 failure, 2 bad input, 3 flagged, 130 interrupted" in r.stdout
    assert _run("--sample", "--help").stdout == r.stdout  # one help, however it is asked
    assert _run("export", "--help").stdout.startswith("usage: radviewer export [-h]")


def test_the_readme_exit_status_table_is_the_code():
    from pathlib import Path

    from viewer.cli_common import EXIT_CODES

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index("| Exit status |")
    rows = text[start:].split("\n\n", 1)[0].splitlines()[2:]
    table = [tuple(cell.strip().strip("`") for cell in row.strip("|").split("|"))
             for row in rows]
    assert table == [(str(code), when) for code, _, when in EXIT_CODES]
