"""File ▸ Export ▸ slices: a slice range as numbered images, rendered and written in the
background with progress and cancel."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QSpinBox

from viewer.gui.export_options import KEY_FOLDER, ExportOptions
from viewer.gui.workers import Job


class SeriesExportJob(Job):
    """Render and write slices ``indices`` in the background; ``finished(request, paths)``."""

    finished = Signal(int, object)

    def __init__(self, request: int, render_slice, indices, folder, name_of,
                 parent: QObject | None = None, text: dict[str, str] | None = None):
        super().__init__(request, parent)
        self.render_slice, self.indices = render_slice, list(indices)
        self.folder, self.name_of = folder, name_of
        self.text = text  # PNG tEXt chunks: the provenance of the AI result drawn

    def run(self) -> None:
        from viewer.export.images import export_series

        paths = export_series(self.render_slice, self.indices, self.folder, self.name_of,
                              progress=lambda d, t: self.progress.emit(self.request, d, t),
                              cancel=self.cancel_event, text=self.text)
        self.finished.emit(self.request, paths)


class SeriesExportMixin:
    """Part of :class:`~viewer.gui.export_actions.ExportController`: the series export (uses its
    ``w``, ``settings``, ``job``, ``_request``, ``_ready``, ``_folder``, ``_study_uid``,
    ``_audit``)."""

    def export_series(self) -> None:
        """Ask for a slice range and a folder; write numbered images in the background."""
        if not self._ready():
            return
        v = self.w.view
        n = v.pixels.stack.n_frames
        dlg = ExportOptions(self.settings, "Export slices as images", self.w)
        dlg.resolution.removeItem(0)  # "as displayed" needs the screen: native only
        first, last = QSpinBox(), QSpinBox()
        for s in (first, last):
            s.setRange(1, n)
        first.setValue(1)
        last.setValue(n)
        fmt = QComboBox()
        fmt.addItems(["png", "jpg"])
        form = dlg.layout()
        form.insertRow(0, "First slice", first)
        form.insertRow(1, "Last slice", last)
        form.insertRow(2, "Format", fmt)
        if not dlg.exec():
            return
        folder = QFileDialog.getExistingDirectory(self.w, "Folder for the images",
                                                  self._folder())
        if folder:
            self.start_series(folder, range(min(first.value(), last.value()) - 1,
                                            max(first.value(), last.value())),
                              dlg.resolution.currentData(), dlg.patient.isChecked(),
                              "." + fmt.currentText())

    def start_series(self, folder: str, indices, scale: int, include_patient: bool,
                     suffix: str = ".png") -> SeriesExportJob:
        from viewer.export.compose import render as render_scene
        from viewer.export.images import default_name
        from viewer.export.scene import slice_scene

        w = self.w
        v = w.view
        px = v.pixels
        panel = w.result_panel
        result = panel.result if panel.result is not None and \
            panel.result.stack_uid == px.stack.uid else None
        window, transform, invert = v.window, v.transform, v.inverted
        measurements = w.measurements
        visible = panel.visible_labels() if result is not None else None
        colors = dict(panel.colors)
        opacity = panel.opacity.value() / 100
        outline = panel.outline.isChecked()
        show = panel.show_overlay.isChecked()
        h = px.stack.first

        def render_slice(k: int) -> np.ndarray:
            scene = slice_scene(
                px, k, window, result=result if show else None, visible=visible,
                colors=colors, opacity=opacity, outline=outline, transform=transform,
                measurements=measurements.on((px.stack.uid, "acquired", k)),
                include_patient=include_patient, invert=invert)
            return render_scene(scene, scale)

        self.cancel_series()
        self._request += 1
        job = SeriesExportJob(self._request, render_slice, indices, folder,
                              lambda k: default_name(h.modality, h.series_number, k + 1, suffix),
                              parent=self,
                              text=result.provenance() if result is not None and show else None)
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        self.job = job
        w.export_progress.setRange(0, len(job.indices))
        w.export_progress.setValue(0)
        w.export_progress.setFormat("Export %v/%m")
        w.export_progress.show()
        w.export_cancel.show()
        self.settings.setValue(KEY_FOLDER, folder)
        job.start()
        return job

    def cancel_series(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.w.statusBar().showMessage("Export cancelled; no file was written", 6000)
        self._end()

    def _end(self) -> None:
        self.job = None
        self.w.export_progress.hide()
        self.w.export_cancel.hide()

    def _on_progress(self, request: int, done: int, total: int) -> None:
        if self.job is not None and request == self.job.request:
            self.w.export_progress.setValue(done)

    def _on_finished(self, request: int, paths) -> None:
        if self.job is None or request != self.job.request:
            return
        self._end()
        folder = paths[0].parent if paths else ""
        self.w.statusBar().showMessage(f"Exported {len(paths)} images to {folder}", 8000)
        if paths:
            self._audit(self._study_uid(), folder, len(paths))

    def _on_failed(self, request: int, message: str) -> None:
        if self.job is None or request != self.job.request:
            return
        self._end()
        self.w.report_problem(message)
