"""radviewer's Storage SCP: only configured peers, atomic writes, bad data refused with a
reason in the log (no patient data), garbage on the socket survived; and a C-GET from a peer
that drops the association mid-transfer."""

from __future__ import annotations

import logging
import os
import socket
import warnings

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

from viewer.pacs import dimse
from viewer.pacs.client import PacsClient
from viewer.pacs.errors import AssociationRejected, PacsError
from viewer.pacs.nodes import DimseNode
from viewer.pacs.scp import StorageSCP

PEER = "SENDER"


@pytest.fixture()
def scp(cache):
    import orthanc_server

    peer = DimseNode("sender", PEER, "127.0.0.1", 104)
    s = StorageSCP(cache, "RADVIEWER", orthanc_server.free_port(), peers=[peer],
                   bind="127.0.0.1").start()
    yield s
    s.stop()


def _to_scp(scp, calling=PEER):
    """A node to reach ``scp`` as the peer ``calling``."""
    return DimseNode("scp", scp.ae_title, "127.0.0.1", scp.port, our_ae_title=calling)


def _send(scp, ds, calling=PEER):
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title=scp.ae_title)
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds).Status
    finally:
        assoc.release()


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # the SCP decoding it
def test_unsolicited_and_malformed_instances_are_refused(scp, cache, study_files, caplog):
    ds = pydicom.dcmread(study_files["ct"][0])
    phi = [v for v in (str(ds.PatientName), str(ds.PatientID)) if v]
    assert phi
    with caplog.at_level(logging.WARNING, logger="radviewer.pacs.scp"):
        assert _send(scp, ds) == 0x0124  # no retrieval expects it
        expected = []
        stop = scp.expect(str(ds.StudyInstanceUID), lambda p, sop: expected.append(p))
        bad = pydicom.dcmread(study_files["ct"][1])
        with warnings.catch_warnings():  # pydicom warns about the bad UID, as it should
            warnings.simplefilter("ignore")
            bad.SeriesInstanceUID = "../../../etc"  # a path, not a UID
        assert _send(scp, bad) == 0xC000
        assert _send(scp, ds) == 0x0000
        stop()
    assert scp.refused == 2 and len(expected) == 1
    assert pydicom.dcmread(expected[0]).SOPInstanceUID == ds.SOPInstanceUID
    assert [p.name for p in cache.root.rglob("*.dcm")] == [f"{ds.SOPInstanceUID}.dcm"]
    assert "unsolicited" in caplog.text and "not a valid UID" in caplog.text
    assert not [v for v in phi if v in caplog.text]


def test_push_accepted_when_enabled(scp, cache, study_files):
    scp.accept_unsolicited = True
    ds = pydicom.dcmread(study_files["ct"][2])
    assert _send(scp, ds) == 0
    assert cache.study(str(ds.StudyInstanceUID)).state == "received"


def test_unknown_calling_ae_is_rejected(scp):
    assert dimse.echo(_to_scp(scp)) < 5
    with pytest.raises(AssociationRejected, match="refused the association"):
        dimse.echo(_to_scp(scp, calling="STRANGER"))


def test_garbage_on_the_socket_does_not_hurt_it(scp, cache):
    payloads = [os.urandom(4096),
                b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 64,  # A-ASSOCIATE-RQ, absurd length
                b"\x04\x00\x00\x00\x00\x10" + b"\xde\xad" * 8,  # P-DATA before association
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
    for data in payloads:
        with socket.create_connection(("127.0.0.1", scp.port), timeout=5) as s:
            s.sendall(data)
            s.settimeout(0.5)  # the SCP may wait for the rest of a "PDU" that never comes
            try:
                s.recv(1024)
            except (TimeoutError, ConnectionResetError):
                pass
    assert scp.running
    assert dimse.echo(_to_scp(scp)) < 5
    assert not list(cache.root.rglob("*.dcm"))


def test_a_peer_that_stops_mid_transfer(cache, study_files):
    """A real pynetdicom archive that serves 2 of 4 CT slices by C-GET, then aborts."""
    import orthanc_server

    files = study_files["ct"]
    heads = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    study = str(heads[0].StudyInstanceUID)

    def on_find(event):
        for h in heads:
            ident = pydicom.Dataset()
            for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                      "SOPClassUID"):
                setattr(ident, k, getattr(h, k))
            ident.QueryRetrieveLevel = "IMAGE"
            yield 0xFF00, ident

    def on_get(event):
        yield len(files)
        for i, f in enumerate(files):
            if i == 2:
                event.assoc.abort()
                return
            yield 0xFF00, pydicom.dcmread(f)

    ae = AE("DYING")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(CTImageStorage, heads[0].file_meta.TransferSyntaxUID,
                             scp_role=True, scu_role=True)
    ae.add_supported_context(Verification)
    port = orthanc_server.free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find),
                                           (evt.EVT_C_GET, on_get)])
    try:
        node = DimseNode("dying", "DYING", "127.0.0.1", port)
        r = PacsClient(node, cache).retrieve(study, method="get")
    finally:
        server.shutdown()
    assert (r.state, r.received, r.total) == ("partial", 2, 4)
    assert "stopped answering mid-transfer" in r.message
    assert cache.study(study).state == "partial" and len(cache.present(study)) == 2
    assert not list(cache.root.rglob("*.part"))


def test_without_configured_peers_nobody_may_send(cache):
    import orthanc_server

    with StorageSCP(cache, "RADVIEWER", orthanc_server.free_port(), bind="127.0.0.1") as scp:
        with pytest.raises(AssociationRejected):
            dimse.echo(_to_scp(scp))
        scp.allow(DimseNode("late", PEER, "127.0.0.1", 104))  # a node added while running
        assert dimse.echo(_to_scp(scp)) < 5


def test_a_known_ae_title_from_another_address_is_cut_off(cache, caplog):
    import orthanc_server

    elsewhere = DimseNode("elsewhere", PEER, "127.0.0.2", 104)
    with StorageSCP(cache, "RADVIEWER", orthanc_server.free_port(), peers=[elsewhere],
                    bind="127.0.0.1") as scp:
        with caplog.at_level(logging.WARNING, logger="radviewer.pacs.scp"):
            with pytest.raises(PacsError):
                dimse.echo(_to_scp(scp))
    assert "configured for another address" in caplog.text


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_the_cache_refuses_what_is_not_a_uid(cache):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2", "1.2.3", "../x"
    with pytest.raises(PacsError, match="without valid"):
        cache.store(ds, data=[b"x"])
    with pytest.raises(PacsError):
        cache.study_dir("../../etc")
    assert not list(cache.root.rglob("*")) or [p.name for p in cache.root.iterdir()] == [
        "index.sqlite"]
