"""The audit trail (viewer/audit.py): salted study hashes, never raw UIDs or names; appends that
never raise; `radviewer audit` shows it; the commands record themselves."""

from __future__ import annotations

import hashlib
import json
import logging
import threading

import pytest

from viewer import audit
from viewer.cli import main

UID = "1.3.6.1.4.1.14519.5.2.1.2744.7002.150059977302243314164020079415"


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(audit, "_warned", False)
    return tmp_path / "data" / "radviewer"


def test_entry_holds_a_salted_hash_never_the_uid(data):
    assert audit.record("open", study_uid=UID, destination=None, series=3, note="Doe^Jane")
    assert audit.record("export", study_uid=UID, destination="/tmp/out", outcome="partial",
                        written=2)
    raw = (data / "audit.jsonl").read_text()
    assert UID not in raw and "Doe" not in raw  # free text is never written, counts only
    first, second = audit.read_entries()
    assert first["study"] == second["study"] and first["study"].startswith("sha256:")
    assert first["study"] != "sha256:" + hashlib.sha256(UID.encode()).hexdigest()  # salted
    assert first["counts"] == {"series": 3} and second["counts"] == {"written": 2}
    assert (second["action"], second["outcome"], second["destination"]) == (
        "export", "partial", "/tmp/out")
    assert (data / "audit-salt").stat().st_mode & 0o077 == 0  # the salt is the user's alone


def test_another_install_hashes_the_same_study_differently(data, tmp_path, monkeypatch):
    audit.record("open", study_uid=UID)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    audit.record("open", study_uid=UID)
    here = audit.read_entries(data / "audit.jsonl")[0]["study"]
    there = audit.read_entries()[0]["study"]
    assert here != there


def test_a_failed_write_never_raises_and_is_logged_once(data, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))  # a file where the folder should be
    with caplog.at_level(logging.WARNING, logger="radviewer.audit"):
        assert audit.record("open", study_uid=UID) is False
        assert audit.record("send", study_uid=UID, destination="PACS") is False
    warnings = [r for r in caplog.records if r.name == "radviewer.audit"]
    assert len(warnings) == 1 and UID not in warnings[0].getMessage()


def test_damaged_lines_are_skipped_and_last_n_kept(data):
    for n in range(5):
        audit.record("analyze", study_uid=UID, files=n)
    with open(data / "audit.jsonl", "a") as fh:
        fh.write("{not json\n")
    entries = audit.read_entries()
    assert [e["counts"]["files"] for e in entries] == [0, 1, 2, 3, 4]
    assert [e["counts"]["files"] for e in audit.read_entries(limit=2)] == [3, 4]


def test_threads_append_whole_lines(data):
    def work():
        for _ in range(40):
            audit.record("retrieve", study_uid=UID, destination="ORTHANC", instances=1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (data / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 160 and all(json.loads(line)["action"] == "retrieve" for line in lines)


def test_radviewer_audit_shows_the_trail(data, capsys):
    assert main(["audit"]) == 0
    assert "no audit entries yet" in capsys.readouterr().out
    audit.record("deid", study_uid=UID, destination="/tmp/copy", written=12)
    assert main(["audit"]) == 0
    line = capsys.readouterr().out.strip()
    assert "deid" in line and "/tmp/copy" in line and "written=12" in line and UID not in line
    assert main(["audit", "--json", "--last", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "radviewer.audit/1" and len(doc["entries"]) == 1
    assert doc["entries"][0]["study"].startswith("sha256:")


def test_export_command_records_itself(data, shared_data, tmp_path, capsys):
    """`radviewer export` appends one entry: its study hashed, the file it wrote."""
    out = tmp_path / "slice.png"
    rc = main(["export", str(shared_data / "pet-seg-headneck" / "PET"), "--series", "1",
               "--slice", "1", "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    (entry,) = audit.read_entries()
    assert entry["action"] == "export" and entry["destination"] == str(out)
    assert entry["counts"] == {"written": 1} and entry["study"].startswith("sha256:")
