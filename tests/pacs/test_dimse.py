"""DIMSE against a real Orthanc: C-ECHO, C-FIND at each level, C-GET, C-MOVE to radviewer's
own Storage SCP, C-STORE of a SEG, cancel and resume, a refused association."""

from __future__ import annotations

import dataclasses
import threading

import pydicom
import pytest
import requests

from viewer.pacs import dimse
from viewer.pacs.client import PacsClient
from viewer.pacs.errors import AssociationRejected, PacsError


def test_echo(node):
    assert 0 < dimse.echo(node) < 5


@pytest.mark.parametrize("level, query, key, expect", [
    ("PATIENT", {}, "PatientID", None),
    ("STUDY", {"ModalitiesInStudy": "PT"}, "StudyInstanceUID", "pet"),
    ("SERIES", {"Modality": "CT"}, "SeriesInstanceUID", "ct"),
])
def test_find_levels(node, uids, level, query, key, expect):
    found = dimse.find(node, level, query)
    assert found
    if expect:
        uid = uids[expect][0 if level == "STUDY" else 1]
        assert [f[key] for f in found] == [uid]


def test_find_image_level_and_limit(node, uids, study_files):
    study, series = uids["pet"]
    found = dimse.find(node, "IMAGE", {"StudyInstanceUID": study,
                                       "SeriesInstanceUID": series})
    want = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in study_files["pet"]}
    assert {f["SOPInstanceUID"] for f in found} >= want
    assert len(dimse.find(node, "IMAGE", {"StudyInstanceUID": study}, limit=2)) == 2


def test_c_get_writes_each_instance_atomically(node, cache, uids):
    seen = []
    r = PacsClient(node, cache).retrieve(uids["ct"][0], method="get", progress=seen.append)
    assert (r.state, r.method, r.received) == ("complete", "C-GET", r.total)
    assert [p.done for p in seen] == list(range(1, r.total + 1))
    files = cache.instance_paths(uids["ct"][0])
    assert len(files) == r.total and all(pydicom.dcmread(f).pixel_array.size for f in files)
    assert not list(cache.root.rglob("*.part"))
    (st,) = cache.studies()
    assert (st.state, st.instances, st.series) == ("complete", r.total, 1)
    assert st.size == sum(f.stat().st_size for f in files)
    assert r.first_instance_s is not None and r.first_instance_s <= r.elapsed_s


def test_c_move_to_the_built_in_scp(node, cache, uids):
    r = PacsClient(node, cache).retrieve(uids["pet"][0], [uids["pet"][1]], method="move")
    assert (r.state, r.method) == ("complete", "C-MOVE")
    assert r.received == r.total >= 6
    assert len(cache.instance_paths(uids["pet"][0])) == r.total


def test_cancel_mid_retrieve_keeps_a_partial_study_and_resume_completes_it(node, cache, uids):
    cancel = threading.Event()

    def progress(p):
        if p.done == 2:
            cancel.set()

    study = uids["pet"][0]
    client = PacsClient(node, cache)
    r = client.retrieve(study, method="get", progress=progress, cancel=cancel)
    assert r.cancelled and r.state == "partial"
    assert 2 <= r.received < r.total
    assert cache.study(study).state == "partial"
    assert len(cache.present(study)) == r.received
    again = client.retrieve(study, method="get")
    assert again.state == "complete"
    assert (again.skipped, again.received) == (r.received, r.total - r.received)


def test_c_store_of_a_seg(node, orthanc, study_files):
    sent = PacsClient(node).send(study_files["seg"])
    assert [o.ok for o in sent] == [True]
    uid = str(pydicom.dcmread(study_files["seg"][0], stop_before_pixels=True).SOPInstanceUID)
    found = requests.post(f"{orthanc.url}/tools/lookup", data=uid, timeout=5).json()
    assert [f["Type"] for f in found] == ["Instance"]


def test_send_refuses_a_file_that_is_not_dicom(node, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    with pytest.raises(PacsError, match="notes.txt: not a DICOM file"):
        PacsClient(node).send([bad])


def test_wrong_called_ae_title_is_refused(node):
    wrong = dataclasses.replace(node, ae_title="NOT-ORTHANC")
    with pytest.raises(AssociationRejected, match="refused the association"):
        dimse.echo(wrong)


def test_nothing_listening_says_so(node):
    import orthanc_server

    gone = dataclasses.replace(node, port=orthanc_server.free_port())
    with pytest.raises(PacsError, match="no answer|cannot connect"):
        dimse.echo(gone)


def test_c_move_to_an_unknown_destination_says_what_to_add(node, cache, uids):
    """Orthanc knows RADVIEWER but not this AE title as a move destination (it answers
    0xC000, where the standard's 0xA801 would say so)."""
    other = dataclasses.replace(node, our_ae_title="NOBODY")
    r = PacsClient(other, cache).retrieve(uids["ct"][0], method="move")
    assert r.state == "failed" and r.received == 0
    assert "status 0x" in r.message and "know the move destination NOBODY" in r.message


def test_cancel_mid_c_move(node, cache, uids):
    cancel = threading.Event()
    study = uids["pet"][0]
    r = PacsClient(node, cache).retrieve(study, method="move", cancel=cancel,
                                         progress=lambda p: p.done >= 2 and cancel.set())
    assert r.cancelled and r.state == "partial" and r.received >= 2
    assert cache.study(study).state == "partial"
    again = PacsClient(node, cache).retrieve(study, method="move")
    assert again.state == "complete" and again.skipped >= 2
