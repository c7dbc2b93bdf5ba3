"""Failed archive attempts reach the audit trail too: a retrieval or send to a node that does
not answer (a closed loopback port, no Orthanc needed) is recorded as failed."""

from __future__ import annotations

import socket

import pytest

from viewer.audit import hash_uid, read_entries
from viewer.pacs.client import PacsClient
from viewer.pacs.errors import PacsError
from viewer.pacs.nodes import DimseNode

STUDY = "1.2.826.0.1.3680043.10.999.1"


@pytest.fixture
def closed_node() -> DimseNode:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return DimseNode("closed", "NOBODY", "127.0.0.1", port)


def test_failed_retrieve_and_send_are_audited(closed_node, cache, shared_data):
    client = PacsClient(closed_node, cache)
    with pytest.raises(PacsError, match="closed"):
        client.retrieve(STUDY)
    pet = next((shared_data / "pet-seg-headneck" / "PET").iterdir())
    with pytest.raises(PacsError, match="closed"):
        client.send([pet])
    entries = [e for e in read_entries() if e["destination"] == "closed"]
    assert [(e["action"], e["outcome"]) for e in entries] == [("retrieve", "failed"),
                                                              ("send", "failed")]
    assert entries[0]["study"] == hash_uid(STUDY) and entries[1]["study"] is None
