"""Tools ▸ Register series…: its dialog (:class:`RegisterDialog`), and the Registration dock
(:class:`RegistrationPanel`): which series went onto which, the metric before and after, a
checkerboard or blend of the fixed image being read with the moving series resampled onto it,
and the buttons to link scrolling and to save the registration.

The quality image is computed in the core (:mod:`viewer.registration.quality`) from volumes the
background job prepared; one 192² image takes ~8 ms on a loaded 2-core machine."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from viewer.registration.quality import blend, checkerboard, normalise

MODES = ("Checkerboard", "Blend")


def quality_image(fixed_slice: np.ndarray, moving_slice: np.ndarray, mode: str,
                  alpha: float = 0.5, squares: int = 8) -> np.ndarray:
    """uint8 (rows, columns) of one fixed slice with the moving series on it (real values,
    each scaled by its own 1-99 percentiles): "Checkerboard" or "Blend"."""
    a, b = normalise(fixed_slice), normalise(moving_slice)
    img = checkerboard(a, b, squares) if mode == MODES[0] else blend(a, b, alpha)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


class RegistrationPanel(QWidget):
    """Signals: ``save_requested()``, ``link_toggled(bool)``, ``changed()`` (mode/alpha)."""

    save_requested = Signal()
    link_toggled = Signal(bool)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No registration yet: Tools ▸ Register series…")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.setToolTip("Edges that run on across the squares (or a blend without double "
                             "contours) show a good registration")
        self.alpha = QSlider(Qt.Orientation.Horizontal)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(50)
        self.alpha.setToolTip("Blend: share of the moving series")
        self.alpha.setEnabled(False)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(240, 240)
        self.image.setStyleSheet("background: black")
        self.caption = QLabel()
        self.link = QCheckBox("Scroll the two series together through the registration")
        self.link.setChecked(True)
        self.save = QPushButton("Save registration")
        self.save.setToolTip("As a DICOM Spatial Registration object in the study folder")
        self.save.setEnabled(False)
        for w in (self.mode, self.alpha, self.link, self.save):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # single-key shortcuts stay free
        row = QHBoxLayout()
        row.addWidget(self.mode)
        row.addWidget(self.alpha, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addLayout(row)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.caption)
        lay.addWidget(self.link)
        lay.addWidget(self.save)
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.alpha.valueChanged.connect(lambda _v: self.changed.emit())
        self.link.toggled.connect(self.link_toggled.emit)
        self.save.clicked.connect(self.save_requested.emit)
        self.shown: np.ndarray | None = None  # the uint8 image drawn last (tests)

    def _on_mode(self, i: int) -> None:
        self.alpha.setEnabled(MODES[i] == "Blend")
        self.changed.emit()

    def show_slice(self, fixed_slice: np.ndarray, moving_slice: np.ndarray, caption: str,
                   spacing: tuple[float, float] = (1.0, 1.0)) -> None:
        """Draw the quality view of one slice; ``spacing`` (row mm, column mm) keeps its aspect."""
        img = quality_image(fixed_slice, moving_slice, self.mode.currentText(),
                            self.alpha.value() / 100)
        self.shown = img
        h, w = img.shape
        q = QImage(np.ascontiguousarray(img).data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        size = self.image.size()
        aspect = (h * spacing[0]) / max(w * spacing[1], 1e-6)
        tw = min(size.width(), int(size.height() / max(aspect, 1e-6)))
        th = int(tw * aspect)
        self.image.setPixmap(QPixmap.fromImage(q).scaled(
            max(tw, 1), max(th, 1), Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation))
        self.caption.setText(caption)

    def clear(self) -> None:
        self.shown = None
        self.image.clear()
        self.caption.setText("")
        self.save.setEnabled(False)
        self.summary.setText("No registration yet: Tools ▸ Register series…")


class RegisterDialog(QDialog):
    """Pick the moving series (and rigid or affine) for a fixed one."""

    def __init__(self, parent, fixed, candidates: list, preferred=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Register series")
        self.candidates = candidates
        self.series = QComboBox()
        for st in candidates:
            self.series.addItem(f"{st.first.modality} {st.label} ({st.n_frames} slices)")
        if preferred is not None and preferred in candidates:
            self.series.setCurrentIndex(candidates.index(preferred))
        self.kind = QComboBox()
        self.kind.addItems(["Rigid", "Affine (after rigid)"])
        form = QFormLayout(self)
        form.addRow("Fixed (stays)", QLabel(f"{fixed.first.modality} {fixed.label}"))
        form.addRow("Moving (lined up onto it)", self.series)
        form.addRow("Transform", self.kind)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Register")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.buttons = buttons

    def chosen(self):
        return self.candidates[self.series.currentIndex()], (
            "rigid" if self.kind.currentIndex() == 0 else "affine")
