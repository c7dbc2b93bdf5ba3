"""The retrieval's fast paths (issue 14 §3) keep their results: the packed file meta, the
one-answer plan of a fresh study, TCP_NODELAY, pynetdicom's log building off, the SCP's
prompt stop."""

from __future__ import annotations

import logging
import socket

import pydicom
import pytest
from pydicom.uid import UID
from pynetdicom.dsutils import create_file_meta, encode_file_meta
from pynetdicom.sop_class import Verification

from viewer.pacs import dimse, retrieve
from viewer.pacs.receive import file_meta


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90"])
@pytest.mark.parametrize("sop", ["1.2.3.4", "1.2.3.45"])  # even and odd lengths (padding)
def test_packed_file_meta_is_what_pydicom_writes(ts, sop):
    ct = "1.2.840.10008.5.1.4.1.1.2"
    want = encode_file_meta(create_file_meta(sop_class_uid=UID(ct), sop_instance_uid=UID(sop),
                                             transfer_syntax=UID(ts)))
    assert file_meta(ct, sop, ts) == want


def test_a_fresh_study_is_planned_from_one_answer_and_a_resume_lists_it(node, cache, uids,
                                                                       study_files):
    study, n_ct = uids["ct"][0], len(study_files["ct"])
    pl = retrieve.plan(node, cache, study)
    assert (pl.instances, pl.total, pl.missing) == ([], n_ct, n_ct)
    assert pl.classes == ("1.2.840.10008.5.1.4.1.1.2",)
    assert [r.QueryRetrieveLevel for r in pl.requests] == ["STUDY"]
    assert not pl.complete(set(), 0)
    # One instance cached: the resume lists the study and asks for the others only.
    cache.store(pydicom.dcmread(study_files["ct"][0]))
    pl = retrieve.plan(node, cache, study)
    assert (len(pl.instances), pl.total, pl.missing) == (n_ct, n_ct, n_ct - 1)
    assert [r.QueryRetrieveLevel for r in pl.requests] == ["IMAGE"]
    assert len(pl.requests[0].SOPInstanceUID) == n_ct - 1


def test_associations_are_nodelay_and_build_no_pynetdicom_summaries(node, caplog,
                                                                    study_files):
    ae = dimse.new_ae(node)
    ae.add_requested_context(Verification)
    with caplog.at_level(logging.DEBUG, logger="pynetdicom"):
        with dimse.associate(node, ae) as assoc:
            sock = assoc.dul.socket.socket
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert assoc.send_c_echo().Status == 0
        found = dimse.find(node, "PATIENT")
    # Even at DEBUG, pynetdicom's standard handlers (PDU and DIMSE summaries) are unbound and
    # identifiers are not printed: the patients' names and IDs are nowhere in its log.
    assert caplog.records and not [r for r in caplog.records
                                   if r.name == "pynetdicom._handlers"]
    head = pydicom.dcmread(study_files["ct"][0], stop_before_pixels=True)
    assert str(head.PatientID) in {f.get("PatientID") for f in found}
    for f in found:
        assert f["PatientID"] not in caplog.text
        assert not f.get("PatientName") or f["PatientName"] not in caplog.text


def test_the_storage_scp_stops_and_its_port_is_free_again(cache):
    import orthanc_server

    from viewer.pacs.scp import StorageSCP

    port = orthanc_server.free_port()
    for _ in range(2):  # the second start binds the same port at once
        scp = StorageSCP(cache, "RADVIEWER", port).start()
        assert scp.running
        scp.stop()
        assert not scp.running
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
