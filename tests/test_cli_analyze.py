"""``radviewer analyze`` never overwrites an earlier run silently, checks its destination
before the model runs, and leaves no partial output on failure or Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from viewer.cli import main
from viewer.cli_common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

MODEL = "brainchop-tissue"


@pytest.fixture
def model_runs(monkeypatch):
    """Counts real model runs (the run itself is untouched)."""
    from viewer.ai.runner import Runner

    calls = []
    real = Runner.run

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Runner, "run", counted)
    return calls


def test_a_non_empty_out_is_refused_unless_overwrite(tmp_path, model_runs, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text('{"earlier": true}')
    (out / "notes.txt").write_text("mine")
    (out / "snapshot_axial_999.png").write_bytes(b"an earlier run's snapshot")
    args = ["analyze", "--sample", "--model", MODEL, "--out", str(out), "--quiet"]
    assert main(args) == EXIT_USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"radviewer analyze: --out {out}: the folder is not empty (an earlier "
                    f"run?); choose another folder or pass --overwrite to replace its files")
    assert not model_runs
    assert json.loads((out / "report.json").read_text()) == {"earlier": True}

    assert main([*args, "--overwrite"]) == EXIT_OK
    assert model_runs == [1]
    report = json.loads((out / "report.json").read_text())
    assert report["series_index"] == 1 and report["files"][:2] == ["report.json", "labels.npy"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*report["files"], "notes.txt"])
    assert (out / "notes.txt").read_text() == "mine"  # not ours: kept
    assert not (out / "snapshot_axial_999.png").exists()  # the earlier run's: replaced


def test_an_unwritable_out_fails_before_the_model_runs(tmp_path, model_runs, capsys):
    if os.geteuid() == 0:  # root writes into read-only folders: use a filesystem that refuses
        out, why = "/sys/radviewer-test-run", "permission denied"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        out, why = str(locked), "permission denied"
    code = main(["analyze", "--sample", "--model", MODEL, "--out", out, "--quiet"])
    assert code == EXIT_FAILURE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"radviewer analyze: {out}: ") and why in line
    assert not model_runs
    assert not os.path.exists(out) or not os.listdir(out)


def test_ctrl_c_while_the_model_runs_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "viewer.cli", "analyze", "--sample",
                             "--model", MODEL, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"[" not in seen:  # the progress bar: the model has started
        chunk = proc.stderr.read(1)
        assert chunk, "analyze ended before it showed progress"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    text = err.decode()
    assert proc.returncode == EXIT_INTERRUPTED, text
    assert text.replace("\r", "\n").strip().splitlines()[-1] == (
        "radviewer analyze: interrupted; nothing was written")
    assert "Traceback" not in text
    assert not out.exists()


def test_an_unwritable_seg_out_fails_before_the_model_runs(tmp_path, model_runs, capsys):
    if os.geteuid() == 0:
        seg = "/sys/radviewer-test/seg.dcm"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        seg = str(locked / "seg.dcm")
    out = tmp_path / "run"
    code = main(["analyze", "--sample", "--model", MODEL, "--out", str(out), "--seg-out", seg,
                 "--quiet"])
    assert code == EXIT_FAILURE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("radviewer analyze: ") and ("radviewer-test" in line or "locked" in line)
    assert not model_runs
    assert not out.exists()  # created for this run, removed again
