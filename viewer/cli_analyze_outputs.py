"""What ``radviewer analyze`` (and a batch task) writes for a result: labels.npy, the
snapshots with their legend and provenance, each into the run's staging folder
(:mod:`viewer.cli_models` moves them into place once all are written)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from viewer.export.atomic import atomic_write, explain


class OutputsAhead:
    """What the snapshots need whatever the result, prepared on a thread while the network
    runs (its two threads leave gaps that take about half of this): the imports of the
    snapshot and legend code (~0.1 s in a fresh process) and the grey range of the volume
    (a partition of every voxel). Anything that fails here is done again afterwards."""

    def __init__(self, stack, pixels):
        self.stack, self.pixels = stack, pixels
        self._thread: threading.Thread | None = None
        self.values = self.convert = self.limits = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outputs-ahead",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            import PIL.Image  # noqa: F401 - imported now, used by the snapshots
            import PIL.PngImagePlugin  # noqa: F401

            import viewer.export.images  # noqa: F401
            import viewer.export.scene  # noqa: F401
            from viewer.ai.snapshot import grey_limits
            from viewer.dicom.pixels import increasing_transform, to_real_volume

            heads = [f.header for f in self.stack.frames]
            convert = increasing_transform(heads)
            stored = self.pixels.frame_volume()
            values = stored if convert is not None else to_real_volume(stored, heads)
            self.values, self.convert = values, convert
            self.limits = grey_limits(values, convert)
        except Exception:  # noqa: BLE001 - the snapshots then find it themselves
            import logging

            logging.getLogger(__name__).debug("outputs prepared ahead: failed", exc_info=True)

    def get(self):
        """(values, convert, limits) prepared, or (None, None, None)."""
        if self._thread is None:
            return None, None, None
        self._thread.join()
        return self.values, self.convert, self.limits


def write_outputs(result, stack, pixels, stage: Path, ahead=None) -> dict:
    """Write labels.npy and the snapshots into ``stage``; returns the report, whose
    ``files`` lists them with report.json first."""
    import numpy as np

    from viewer.ai import snapshot

    report = result.report()
    files = []
    if result.label_volume is not None:
        # Written (and synced) on a thread while the snapshots are drawn.
        with ThreadPoolExecutor(1, thread_name_prefix="labels-npy") as pool:
            saved = pool.submit(_save_npy, stage / "labels.npy", result.label_volume)
            _snapshots(result, stack, pixels, stage, report, files, ahead)
            saved.result()
        files.insert(0, "labels.npy")
    elif result.slice_scores is not None:
        top = result.top_label
        col = [lab.name for lab in result.labels].index(top)
        col_scores = result.slice_scores[:, col].copy()
        if result.slice_in_range is not None and result.slice_in_range.any():
            col_scores[~result.slice_in_range] = -1  # show a slice the series score is from
        k = int(np.argmax(col_scores))
        real = pixels.real(k)
        name = f"snapshot_slice_{k + 1}_{top.replace(' ', '_').lower()}.png"
        sp = (stack.spacing[1], stack.spacing[2]) if stack.spacing else (1.0, 1.0)
        _save_png(snapshot.blend(snapshot.to_grey(real), None, {}), stage / name, sp, result,
                  slice_index=k)
        report["snapshot_slice"] = {"index": k + 1, "label": top,
                                    "score": round(float(result.slice_scores[k, col]), 4),
                                    "in_range": bool(result.slice_in_range[k])
                                    if result.slice_in_range is not None else True}
        files.append(name)
    report["files"] = ["report.json", *files]
    return report


def _snapshots(result, stack, pixels, stage: Path, report: dict, files: list,
               ahead=None) -> None:
    """The segmentation's snapshots through the labels' centre into ``stage``, named in
    ``files``; ``report`` gets the labels' description. ``ahead``: an OutputsAhead."""
    import numpy as np

    from viewer.ai import snapshot
    from viewer.dicom.pixels import increasing_transform, to_real_volume

    report["label_volume"] = {
        "file": "labels.npy", "dtype": "uint8", "axes": "[k, j, i] = slice, row, column",
        "affine_ijk_to_lps_mm": np.asarray(stack.affine).round(6).tolist()}
    values, convert, limits = ahead.get() if ahead is not None else (None, None, None)
    if values is None:
        heads = [f.header for f in stack.frames]
        convert = increasing_transform(heads)  # then only the planes shown are converted
        values = pixels.frame_volume() if convert is not None else to_real_volume(
            pixels.frame_volume(), heads)
    colors = {lab.value: lab.color for lab in result.labels}
    for plane, idx, rgb, spacing in snapshot.representative_planes(
            values, result.label_volume, stack.affine, colors, convert=convert, limits=limits):
        name = f"snapshot_{plane}_{idx + 1}.png"
        _save_png(rgb, stage / name, spacing, result)
        files.append(name)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text), "w", overwrite=True)


def _save_npy(path: Path, arr) -> None:
    import numpy as np

    atomic_write(path, lambda fh: np.save(fh, arr), overwrite=True)


def _save_png(rgb, path: Path, spacing, result=None, slice_index: int | None = None) -> None:
    """Save a snapshot with the result's legend (model, notice, flags) beside it and its
    provenance in PNG tEXt chunks."""
    from viewer.ai import snapshot

    try:
        snapshot.save_png(rgb, path, spacing, result=result, slice_index=slice_index)
    except OSError as exc:  # Pillow writes the file itself; the staging folder makes it atomic
        raise explain(path, exc) from exc
