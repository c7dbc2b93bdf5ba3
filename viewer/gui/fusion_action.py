"""View ▸ Fuse PET: the study's PET drawn over the active view (a CT), resampled onto its
planes in the core (:mod:`viewer.display.fusion`), with an opacity slider.

The window owns one :class:`FusionController`; its :meth:`~FusionController.toggle` is the
menu action's slot and :attr:`~FusionController.slider` goes on the toolbar. The PET volume
loads in the background (a worker) before it is fused; a study without a PET in the CT's
Frame of Reference says so in the status bar.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QSlider

from viewer.dicom.pixels import StackPixels
from viewer.display.fusion import fusion_partner
from viewer.errors import ViewerError
from viewer.gui.workers import CallJob


class FusionController(QObject):
    """Fusion of one main window: ``modalities`` are the series fused over the active view."""

    def __init__(self, window, modalities: tuple[str, ...] = ("PT",)) -> None:
        super().__init__(window)
        self.w = window
        self.modalities = modalities
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setMaximumWidth(120)
        self.slider.setToolTip("Fusion opacity")
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # single-key shortcuts stay free
        self.slider.valueChanged.connect(self.set_opacity)
        self._request = 0
        self._jobs: list[CallJob] = []

    def _pixels(self, stack) -> StackPixels:
        lookup = getattr(self.w, "_pixels_for", None)  # share the window's decoded volumes
        return lookup(stack) if lookup is not None else StackPixels(stack)

    def toggle(self, on: bool) -> None:
        """Fuse (on) or remove (off) the study's PET over the active view."""
        v = self.w.view
        self._request += 1  # a PET still loading for an earlier toggle is not fused
        if not on or v.pixels is None or self.w.catalog is None:
            v.set_fusion(None)
            return
        partner = fusion_partner(self.w.catalog.stacks(), v.pixels.stack, self.modalities)
        if partner is None:
            self.w.statusBar().showMessage(
                f"No {'/'.join(self.modalities)} series in this study shares this series' "
                f"Frame of Reference: nothing to fuse.", 8000)
            self._uncheck()
            return
        px = self._pixels(partner)
        target = v.pixels
        job = CallJob(self._request, px.load_volume, parent=self)
        job.finished.connect(lambda r, _vol: self._fuse(r, v, target, px))
        job.failed.connect(lambda _r, msg: self.w.report_problem(msg))
        self._jobs = [j for j in self._jobs if not j.wait(0)] + [job]
        self.w.statusBar().showMessage(f"Loading {partner.label} for fusion…")
        job.start()

    def _fuse(self, request: int, view, target: StackPixels, px: StackPixels) -> None:
        # The user turned fusion off (or asked again) or moved on while the PET loaded.
        if request != self._request or view.pixels is not target:
            return
        try:
            view.set_fusion(px, self.slider.value() / 100)
        except ViewerError as exc:
            self.w.report_problem(str(exc))
            self._uncheck()
            return
        self.w.statusBar().showMessage(f"Fused {px.stack.label} (opacity "
                                       f"{self.slider.value()} %)", 6000)

    def _uncheck(self) -> None:
        """Nothing is fused: View ▸ Fuse PET says so (one click fuses when there is)."""
        action = getattr(self.w, "fusion_action", None)
        if action is not None and action.isChecked():
            action.blockSignals(True)
            action.setChecked(False)
            action.blockSignals(False)

    def set_opacity(self, percent: int) -> None:
        for v in self.w.views:
            v.set_fusion_opacity(percent / 100)
