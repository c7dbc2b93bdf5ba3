"""DICOM Segmentation (SEG) out and in: an AI label volume to a SEG file, a SEG file to an overlay.

Writing is :mod:`viewer.dicom.seg_write` (:func:`write_seg`, highdicom, BINARY SEG on the
source stack's grid), reading :mod:`viewer.dicom.seg_read` (:func:`read_seg`, pydicom only,
onto a stack's ``[k, j, i]`` grid), and what both share (SOP classes, segment codes, CIELab
colours) :mod:`viewer.dicom.seg_codes`. This module re-exports their public names.
"""

from __future__ import annotations

from viewer.dicom.seg_codes import (
    DEFAULT_PALETTE,
    LABELMAP_SEG_SOP_CLASS,
    SEG_SOP_CLASS,
    lab_to_rgb,
    property_codes,
)
from viewer.dicom.seg_read import SegOverlay, read_seg
from viewer.dicom.seg_write import (
    ASSUMED_FOR_DESCRIPTION,
    CONTENT_DESCRIPTION,
    MANUFACTURER,
    RESEARCH_NOTE,
    build_seg,
    write_seg,
)

__all__ = [
    "ASSUMED_FOR_DESCRIPTION", "CONTENT_DESCRIPTION", "DEFAULT_PALETTE", "LABELMAP_SEG_SOP_CLASS",
    "MANUFACTURER", "RESEARCH_NOTE", "SEG_SOP_CLASS", "SegOverlay", "build_seg", "lab_to_rgb",
    "property_codes", "read_seg", "write_seg",
]
