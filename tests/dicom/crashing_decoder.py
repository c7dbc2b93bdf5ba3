"""A decode batch function for the worker processes that crashes GDCM for real on one file.

Files whose name starts with ``crash`` are decoded by GDCM from a copy of their dataset whose
Rows/Columns claim 1000x1000 while the JPEG-LS codestream holds less: GDCM throws an uncaught
C++ exception and the process aborts (SIGABRT), as it does on such a file from a stranger's USB
stick. (radviewer's own path rejects that file before any decoder sees it:
viewer.dicom.codestream; this module skips that check to reach the decoder.) Every other file
goes to the real batch function. Module-level, so that the worker imports it by name.
"""

from __future__ import annotations

import os

from viewer.dicom import isolated

_real_decode_batch = isolated._decode_batch  # taken before a test swaps this module's in


def decode_batch(items):
    for h, *_rest in items:
        if os.path.basename(h.path).startswith("crash"):
            import pydicom

            ds = pydicom.dcmread(h.path)
            ds.Rows = ds.Columns = 1000
            ds.pixel_array_options(decoding_plugin="gdcm")
            ds.pixel_array  # noqa: B018 - aborts the process
            raise AssertionError("GDCM did not abort")
    return _real_decode_batch(items)
