"""File ▸ Export: the shown view as PNG/JPEG, to the clipboard or as a DICOM Secondary Capture;
a slice range as numbered images (in the background, with progress and cancel); the AI
segmentation as DICOM SEG. Patient details are left out unless the user asks (remembered)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from viewer.display.annotate import corner_text
from viewer.errors import ViewerError
from viewer.export.compose import Scene, add_legend, annotate, render
from viewer.export.scene import legend_for, stack_title
from viewer.gui.workers import CallJob, Job

KEY_PATIENT = "export/include_patient_details"
KEY_RESOLUTION = "export/resolution"
KEY_FOLDER = "export/folder"
DISPLAYED = 0  # resolution choice: as displayed; n > 0: native image x n


def view_scene(view, panel, include_patient: bool) -> Scene:
    """The shown plane of ``view`` (a SliceView) as an export scene: window, rotation, the AI
    overlay as styled in ``panel`` (ResultPanel), measurements and corner text."""
    from viewer.gui.slice_view import ACQUIRED

    img = view.current_image()
    if img is None:
        raise ViewerError("the image is still loading; try again in a moment")
    colour = img.ndim == 3  # RGB as stored (RGB, YBR, palette): no window, no invert
    st = view.pixels.stack
    h = st.first
    plane = st.plane.lower() if view.plane == ACQUIRED else view.plane
    spacing = view._spacing()
    calibration = view.calibration()
    window = None if colour else view.window
    invert = not colour and view.inverted != (h.photometric == "MONOCHROME1")
    real = img if colour else view._real(img)
    # A colour map or a fused PET: the pixels as drawn, exported as a colour image.
    drawn = None if colour else view.display_rgb(real, invert)
    scene = Scene(
        real=real if drawn is None else drawn, window=window if drawn is None else None,
        spacing=spacing, transform=view.transform,
        scale_note=calibration.note if calibration.spacing is not None else None,
        invert=invert and drawn is None,
        measurements=[(m, view.measurement_text(m))
                      for m in view.measurements.on(view.slice_key())],
        letters=view.edge_letters())
    scene.corners = corner_text(
        h, title=stack_title(st), plane=plane, index=view.display_position(),
        n_slices=view.n_slices,
        position_mm=view.position_mm(), window=window, spacing=spacing,
        transform=view.transform, include_patient=include_patient, calibration=calibration,
        instance_number=(st.frames[view.index].header.instance_number
                         if view.plane == ACQUIRED else None))
    if view.slab_active:
        scene.corners["tr"].append(view.slab_text())
    scene.corners["bl"][1:1] = view.suv_corner_lines()
    result = panel.result
    if result is not None and result.stack_uid == st.uid:
        if view._overlay_lut is not None:
            scene.labels = view.overlay_plane()
            scene.lut, scene.outline = view._overlay_lut, view._overlay_outline
        acquired = view.plane == ACQUIRED and result.slice_scores is not None
        scene.legend = legend_for(result, panel.visible_labels()
                                  if result.task == "segmentation" else None,
                                  panel.colors, view.index if acquired else None)
    return scene


def qimage_to_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def grab_displayed(view, panel, include_patient: bool) -> np.ndarray:
    """The view as on screen (its zoom and pan), with a scale bar and the legend added."""
    from PIL import Image, ImageDraw

    shown, selected = view.show_patient_details, view._selected_id
    view.set_show_patient_details(include_patient)
    view.select(None)  # measurements export in their own colour, not the "selected" one
    try:
        rgb = qimage_to_rgb(view.grab().toImage())
    finally:
        view.select(selected)
        view.set_show_patient_details(shown)
    scene = view_scene(view, panel, include_patient)
    size = int(np.clip(round(min(rgb.shape[1], 600) / 38), 11, 30))
    im = Image.fromarray(rgb)
    # View coordinates are mm, or pixels for an image without a real spacing (no scale bar).
    mm_per_px = float(view.viewbox.viewPixelSize()[0])
    note = scene.scale_note
    annotate(ImageDraw.Draw(im), rgb.shape[:2], {}, {}, mm_per_px if note is not None else None,
             size, note or "")
    rgb = np.asarray(im)
    return add_legend(rgb, scene.legend, size) if scene.legend is not None else rgb


class ExportOptions(QDialog):
    """Resolution and the patient-details choice (remembered in the settings)."""

    def __init__(self, settings: QSettings, title: str, parent: QWidget | None = None,
                 resolution: bool = True):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.settings = settings
        self.resolution = QComboBox()
        self.resolution.addItem("As displayed", DISPLAYED)
        for n in (1, 2, 3, 4):
            self.resolution.addItem(f"Native image x{n}", n)
        saved = settings.value(KEY_RESOLUTION, 1, type=int)
        self.resolution.setCurrentIndex(max(0, self.resolution.findData(saved)))
        self.patient = QCheckBox("Include patient details (name, ID, birth date, accession)")
        self.patient.setChecked(settings.value(KEY_PATIENT, False, type=bool))
        form = QFormLayout(self)
        if resolution:
            form.addRow("Resolution", self.resolution)
        form.addRow(self.patient)
        form.addRow(QLabel("File names never contain patient details."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.setValue(KEY_RESOLUTION, self.resolution.currentData())
        self.settings.setValue(KEY_PATIENT, self.patient.isChecked())
        super().accept()


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


class ExportController(QObject):
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
