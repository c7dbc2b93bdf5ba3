"""Turn one received C-STORE (a pynetdicom event) into a cached file, cheaply.

pynetdicom's ``event.dataset`` decodes the whole data set and ``encoded_dataset()`` joins
preamble, meta and data into one new bytes object; at 275 CT slices that was a third of a
C-GET's client CPU. Here only the header up to (0020,0011) is parsed (the UIDs and the index's
fields all come before it) and the file is written from the received buffer as it is.
"""

from __future__ import annotations

from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pynetdicom.dsutils import encode_file_meta

_LAST_TAG = 0x00200011  # Series Number: every attribute the cache reads comes before it


class Received:
    """The parts of a C-STORE that the cache needs: ``header`` (a partial data set) and the
    Part 10 file as chunks (preamble, meta, the data set as received)."""

    def __init__(self, event) -> None:
        req = event.request
        stream: BytesIO = req.DataSet
        ctx = event.context
        ts = ctx.transfer_syntax
        if ts.is_deflated:  # rare: let pydicom inflate it
            self.header = event.dataset
        else:
            stream.seek(0)
            self.header = read_dataset(stream, ts.is_implicit_VR, ts.is_little_endian,
                                       stop_when=lambda tag, vr, length: tag > _LAST_TAG)
        self.sop_class = str(req.AffectedSOPClassUID)
        self.sop_instance = str(req.AffectedSOPInstanceUID)
        self.chunks = (b"\x00" * 128 + b"DICM", encode_file_meta(event.file_meta),
                       stream.getbuffer())

    def check(self) -> str:
        """Why the data set does not match its C-STORE request ("" when it does)."""
        h: Dataset = self.header
        if str(h.get("SOPInstanceUID", "")) != self.sop_instance or \
                str(h.get("SOPClassUID", "")) != self.sop_class:
            return "SOP Class/Instance UID differ from the C-STORE request"
        return ""
