"""DICOMweb against a real Orthanc (its DicomWeb plugin): QIDO, WADO-RS, STOW-RS."""

from __future__ import annotations

import dataclasses
import threading

import pydicom
import pytest
import requests

from viewer.pacs.client import PacsClient
from viewer.pacs.errors import PacsError


def test_qido_studies_and_series(web_node, uids):
    client = PacsClient(web_node)
    assert client.verify() < 5
    studies = client.find("STUDY", {"ModalitiesInStudy": "CT"})
    assert [s["StudyInstanceUID"] for s in studies] == [uids["ct"][0]]
    series = client.find("SERIES", study_uid=uids["pet"][0])
    assert uids["pet"][1] in {s["SeriesInstanceUID"] for s in series}
    assert len(client.find("STUDY", limit=1)) == 1


def test_wado_rs_streams_into_the_cache(web_node, cache, uids):
    seen = []
    r = PacsClient(web_node, cache).retrieve(uids["ct"][0], progress=seen.append)
    assert (r.state, r.method, r.received) == ("complete", "WADO-RS", r.total)
    assert [p.done for p in seen] == list(range(1, r.total + 1))
    for f in cache.instance_paths(uids["ct"][0]):
        ds = pydicom.dcmread(f)
        assert ds.pixel_array.shape == (512, 512)


def test_wado_cancel_then_resume(web_node, cache, uids):
    cancel = threading.Event()
    client = PacsClient(web_node, cache)
    study = uids["pet"][0]
    r = client.retrieve(study, [uids["pet"][1]], cancel=cancel,
                        progress=lambda p: p.done >= 2 and cancel.set())
    assert r.cancelled and r.state == "partial" and r.received == 2
    assert cache.study(study).state == "partial"
    again = client.retrieve(study, [uids["pet"][1]])
    assert (again.state, again.skipped) == ("complete", 2)
    assert again.received == again.total - 2


def test_stow_rs(web_node, orthanc, study_files, tmp_path):
    ds = pydicom.dcmread(study_files["ct"][0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()  # a new instance, as a derived object is
    path = tmp_path / "new.dcm"
    ds.save_as(path)
    (out,) = PacsClient(web_node).send([path])
    assert out.ok and out.sop_instance_uid == ds.SOPInstanceUID
    found = requests.post(f"{orthanc.url}/tools/lookup", data=ds.SOPInstanceUID,
                          timeout=5).json()
    assert [f["Type"] for f in found] == ["Instance"]


def test_wrong_base_url_says_what_to_check(web_node):
    wrong = dataclasses.replace(web_node, url=web_node.url + "/nothing-here")
    with pytest.raises(PacsError, match="HTTP 404.*base URL"):
        PacsClient(wrong).verify()
