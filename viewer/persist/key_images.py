"""Key images: slices flagged by the reader, saved as a DICOM Key Object Selection document.

One KOS (highdicom ``KeyObjectSelectionDocument``, title "Of Interest") per series,
``radviewer-ko-<digest>.dcm`` in the study's output folder (:mod:`viewer.persist.location`),
replaced on every save. Slices are 0-based indices in stack order; in the document each is its
image's SOP Instance UID (and frame number in a multi-frame image).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from viewer.dicom.stacks import Stack
from viewer.errors import DicomReadError, ExportError
from viewer.persist import dicom_common as common
from viewer.persist import location

KOS = "1.2.840.10008.5.1.4.1.1.88.59"


def file_name(stack: Stack) -> str:
    digest = hashlib.sha256(stack.series_uid.encode()).hexdigest()[:12]
    return f"radviewer-ko-{digest}.dcm"


def _frame_key(stack: Stack, k: int) -> tuple[str, int]:
    f = stack.frames[k]
    return f.header.sop_instance_uid, (f.frame + 1 if f.header.number_of_frames > 1 else 0)


def save_key_images(study_dir: str, stack: Stack, slices: Iterable[int],
                    description: str = "") -> Path:
    """Write the key images of ``stack`` (0-based slice indices) and return the file's path.

    Raises
    ------
    ValueError
        No slice given, or a slice outside the stack.
    ExportError
        A source header cannot be read, or the file cannot be written.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    chosen = sorted(set(int(k) for k in slices))
    if not chosen:
        raise ValueError("flag at least one key image (an empty selection is not saved)")
    if chosen[0] < 0 or chosen[-1] >= stack.n_frames:
        raise ValueError(f"key images must be slices 0..{stack.n_frames - 1} of {stack.label}")
    by_path: dict[str, list[int]] = {}
    for k in chosen:
        by_path.setdefault(stack.frames[k].header.path, []).append(k)
    evidence = []
    for path, ks in by_path.items():
        ds = common.read_header(path, "to reference it as a key image")
        if stack.frames[ks[0]].header.number_of_frames > 1:
            # highdicom references frames of a multi-frame image through this attribute.
            ds.ReferencedFrameNumber = [stack.frames[k].frame + 1 for k in ks]
        evidence.append(ds)
    content = hd.ko.KeyObjectSelection(document_title=codes.DCM.OfInterest,
                                       referenced_objects=evidence,
                                       description=description or None)
    kos = common.quietly(
        hd.ko.KeyObjectSelectionDocument, evidence=evidence, content=content,
        series_instance_uid=hd.UID(), series_number=9903, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer=common.MANUFACTURER,
        series_description="radviewer key images")
    try:
        folder = location.output_folder(study_dir)
    except OSError as exc:
        raise ExportError(str(exc)) from exc
    return common.write_dataset(kos, folder / file_name(stack))


def read_key_images(path: str | Path, stack: Stack) -> list[int]:
    """Slices of ``stack`` (0-based, sorted) that a KOS file flags; its other references are
    left out.

    Raises
    ------
    DicomReadError
        The file is not a Key Object Selection document.
    """
    from viewer.dicom import lazy

    pydicom = lazy.pydicom()
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise DicomReadError(f"{path}: cannot be read as DICOM ({exc})") from exc
    if ds.get("SOPClassUID") != KOS:
        raise DicomReadError(f"{path}: not a Key Object Selection document")
    index = {_frame_key(stack, k): k for k in range(stack.n_frames)}
    out = set()
    for item in ds.get("ContentSequence", []):
        if item.get("ValueType") != "IMAGE":
            continue
        for ref in item.get("ReferencedSOPSequence", []):
            uid = str(ref.ReferencedSOPInstanceUID)
            frames = ref.get("ReferencedFrameNumber")
            if frames is None:
                k = index.get((uid, 0))
                out.update([k] if k is not None else [])
                continue
            for n in (frames if isinstance(frames, list | tuple) else [frames]):
                k = index.get((uid, int(n)))
                out.update([k] if k is not None else [])
    return sorted(out)


def load_key_images(source, stack: Stack) -> list[int]:
    """The key images saved for ``stack`` (newest file), or []: ``source`` is the study folder
    or its :class:`~viewer.dicom.catalog.Catalog` (whose KO objects linked to the series count
    too)."""
    from viewer.dicom.catalog import Catalog

    root = source.root if isinstance(source, Catalog) else str(source)
    found = [f / file_name(stack) for f in location.existing(root)]
    if isinstance(source, Catalog):
        found += [Path(o.header.path) for o in source.objects()
                  if o.kind == "KO" and stack.series_uid in o.referenced_series_uids]
    unique = {p.resolve(): p for p in found if p.is_file()}
    found = sorted(unique.values(), key=lambda p: -p.stat().st_mtime)
    for p in found:
        try:
            return read_key_images(p, stack)
        except DicomReadError:
            continue
    return []
