"""File ▸ Export: the shown view as PNG/JPEG, to the clipboard or as a DICOM Secondary Capture;
a slice range as numbered images (in the background, with progress and cancel); the AI
segmentation as DICOM SEG. Patient details are left out unless the user asks (remembered).

The rendering helpers live in :mod:`~viewer.gui.export_render`, the options dialog and settings
keys in :mod:`~viewer.gui.export_options`, the slice-range export in
:mod:`~viewer.gui.export_series`; their names are re-exported here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from viewer.errors import ViewerError
from viewer.export.compose import render
from viewer.gui.export_options import (
    DISPLAYED,
    KEY_FOLDER,
    KEY_PATIENT,
    KEY_RESOLUTION,
    ExportOptions,
)
from viewer.gui.export_render import grab_displayed, qimage_to_rgb, rgb_to_qimage, view_scene
from viewer.gui.export_series import SeriesExportJob, SeriesExportMixin
from viewer.gui.workers import CallJob

__all__ = ["DISPLAYED", "KEY_FOLDER", "KEY_PATIENT", "KEY_RESOLUTION", "ExportController",
           "ExportOptions", "SeriesExportJob", "grab_displayed", "qimage_to_rgb",
           "rgb_to_qimage", "view_scene"]


class ExportController(SeriesExportMixin, QObject):
    """The export actions of one main window."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.job: SeriesExportJob | None = None
        self._request = 0

    # ------------------------------------------------------------------ helpers

    @property
    def settings(self) -> QSettings:
        return self.w.settings

    def include_patient(self) -> bool:
        return self.settings.value(KEY_PATIENT, False, type=bool)

    def _folder(self) -> str:
        return str(self.settings.value(KEY_FOLDER, os.path.expanduser("~")))

    def _ready(self) -> bool:
        v = self.w.view
        if v.pixels is None or v.current_image() is None:
            self.w.statusBar().showMessage("Open a series and wait for the image first.", 6000)
            return False
        return True

    def _base_name(self, suffix: str) -> str:
        from viewer.export.images import default_name

        v = self.w.view
        h = v.pixels.stack.first
        name = default_name(h.modality, h.series_number, v.index + 1, suffix)
        return name if v.plane == "acquired" else name.replace(suffix, f"_{v.plane}{suffix}")

    def _provenance(self, px) -> dict[str, str] | None:
        """PNG tEXt chunks of the AI result shown over ``px``'s stack (None: none shown)."""
        panel = self.w.result_panel
        r = panel.result
        if r is None or px is None or r.stack_uid != px.stack.uid or \
                not panel.show_overlay.isChecked():
            return None
        return r.provenance()

    def render_view(self, resolution: int, include_patient: bool) -> np.ndarray:
        v = self.w.view
        if resolution == DISPLAYED:
            return grab_displayed(v, self.w.result_panel, include_patient)
        return render(view_scene(v, self.w.result_panel, include_patient), resolution)

    def _fail(self, exc: Exception) -> None:
        self.w.report_problem(str(exc))

    # ------------------------------------------------------------------ actions

    def export_view(self) -> None:
        """Ask for resolution, patient details and a file; write PNG or JPEG."""
        if not self._ready():
            return
        opts = ExportOptions(self.settings, "Export view as image", self.w)
        if not opts.exec():
            return
        path, _ = QFileDialog.getSaveFileName(
            self.w, "Export view", str(Path(self._folder()) / self._base_name(".png")),
            "PNG image (*.png);;JPEG image (*.jpg *.jpeg)")
        if path:
            self.write_view(path, opts.resolution.currentData(), opts.patient.isChecked(),
                            overwrite=True)  # the file dialog asked before replacing

    def write_view(self, path: str, resolution: int, include_patient: bool,
                   overwrite: bool = False) -> Path | None:
        from viewer.export.images import save_image

        try:
            out = save_image(self.render_view(resolution, include_patient), path, overwrite,
                             text=self._provenance(self.w.view.pixels))
        except ViewerError as exc:
            self._fail(exc)
            return None
        self.settings.setValue(KEY_FOLDER, str(Path(path).parent))
        self.w.statusBar().showMessage(f"Saved {out}", 8000)
        self._audit(self._study_uid(), out, 1)
        return out

    def copy_view(self) -> None:
        """The view (as displayed) to the clipboard, without patient details unless chosen."""
        if not self._ready():
            return
        try:
            rgb = self.render_view(DISPLAYED, self.include_patient())
        except ViewerError as exc:
            self._fail(exc)
            return
        QGuiApplication.clipboard().setImage(rgb_to_qimage(rgb))
        self.w.statusBar().showMessage("View copied to the clipboard", 5000)

    def export_capture(self) -> None:
        """The view at native resolution as a DICOM Secondary Capture in the same study."""
        if not self._ready():
            return
        opts = ExportOptions(self.settings, "Save view as DICOM secondary capture", self.w,
                             resolution=False)
        if not opts.exec():
            return
        path, _ = QFileDialog.getSaveFileName(
            self.w, "Save secondary capture",
            str(Path(self._folder()) / self._base_name(".dcm")), "DICOM (*.dcm)")
        if path:
            self.write_capture(path, opts.patient.isChecked(), overwrite=True,
                               background=True)

    def write_capture(self, path: str, include_patient: bool, overwrite: bool = False,
                      background: bool = False) -> Path | None:
        """Write the view as a secondary capture; ``background``: off the GUI thread
        (highdicom's import and the dataset take ~0.3 s), reporting in the status bar."""
        from viewer.export.capture import write_secondary_capture

        v = self.w.view
        try:
            scene = view_scene(v, self.w.result_panel, include_patient)
            source = v.pixels.stack.frames[v.source_frame_index()].header
            rgb = render(scene)
        except ViewerError as exc:
            self._fail(exc)
            return None

        def write():
            return write_secondary_capture(rgb, source, path,
                                           burned_in_patient_details=include_patient,
                                           letters=scene.letters, overwrite=overwrite)

        return self._write(write, "secondary capture", background)

    def _study_uid(self) -> str | None:
        px = self.w.view.pixels
        return px.stack.first.study_uid if px is not None else None

    @staticmethod
    def _audit(study_uid: str | None, destination, written: int) -> None:
        """One export in the audit trail (hashed study, destination, count; never raises)."""
        from viewer.audit import record

        record("export", study_uid=study_uid, destination=str(destination), written=written)

    def _saved(self, what: str, out, study_uid: str | None) -> None:
        self.w.statusBar().showMessage(f"Saved {what} {out}", 8000)
        self._audit(study_uid, out, 1)

    def _write(self, write, what: str, background: bool) -> Path | None:
        study_uid = self._study_uid()  # the series being written, whatever is shown later
        if background:
            self._request += 1
            job = CallJob(self._request, write, parent=self)
            job.finished.connect(lambda _r, out: self._saved(what, out, study_uid))
            job.failed.connect(lambda _r, msg: self.w.report_problem(msg))
            self._writes = [j for j in getattr(self, "_writes", []) if not j.wait(0)] + [job]
            self.w.statusBar().showMessage(f"Saving {what}…")
            job.start()
            return None
        try:
            out = write()
        except ViewerError as exc:
            self._fail(exc)
            return None
        self._saved(what, out, study_uid)
        return out

    def export_seg(self) -> None:
        """The shown series' AI segmentation as DICOM SEG."""
        result = self.w.result_panel.result
        px = self.w.view.pixels
        if result is None or result.label_volume is None or px is None or \
                result.stack_uid != px.stack.uid or result.provider == "file":
            self.w.statusBar().showMessage(
                "Run a segmentation model on this series first (AI ▸ Analyze).", 6000)
            return
        h = px.stack.first
        name = f"{h.modality}_s{h.series_number or 0}_seg_{result.model_id}.dcm"
        path, _ = QFileDialog.getSaveFileName(self.w, "Save AI segmentation as DICOM SEG",
                                              str(Path(self._folder()) / name),
                                              "DICOM (*.dcm)")
        if path:
            self.write_seg(path, overwrite=True, background=True)

    def write_seg(self, path: str, overwrite: bool = False,
                  background: bool = False) -> Path | None:
        """Write the shown AI segmentation as DICOM SEG (0.3-0.6 s: background in the GUI)."""
        from viewer.dicom.seg import write_seg

        result = self.w.result_panel.result
        stack = self.w.view.pixels.stack
        return self._write(lambda: write_seg(result, stack, path, overwrite=overwrite),
                           "DICOM SEG", background)
