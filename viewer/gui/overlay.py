"""AI result overlays: label lookup tables and the legend panel (model, labels, scores)."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from viewer.ai.result import RESEARCH_NOTICE, AnalysisResult


def _swatch(rgb) -> QPixmap:
    pm = QPixmap(14, 14)
    pm.fill(QColor(*rgb))
    return pm


class ResultPanel(QWidget):
    """Legend of the shown series' AI result: provenance, style, labels or scores."""

    style_changed = Signal()
    jump_to_label = Signal(int)  # label value
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None):
        super().__init__(parent)
        self.result: AnalysisResult | None = None
        self.settings = settings
        self.colors: dict[int, tuple[int, int, int]] = {}  # user colours for this model
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setToolTip("Overlay opacity")
        self.opacity.valueChanged.connect(lambda _: self.style_changed.emit())
        self.outline = QCheckBox("Outline")
        self.outline.toggled.connect(lambda _: self.style_changed.emit())
        self.show_overlay = QCheckBox("Show")
        self.show_overlay.setChecked(True)
        self.show_overlay.toggled.connect(lambda _: self.style_changed.emit())
        self.labels = QListWidget()
        self.labels.itemChanged.connect(lambda _: self.style_changed.emit())
        self.labels.itemDoubleClicked.connect(
            lambda it: self.jump_to_label.emit(int(it.data(Qt.ItemDataRole.UserRole))))
        self.labels.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.labels.customContextMenuRequested.connect(self._label_menu)
        self.scores_box = QWidget()
        self.scores_lay = QVBoxLayout(self.scores_box)
        self.scores_lay.setContentsMargins(0, 0, 0, 0)
        self.clear_button = QPushButton("Clear result")
        self.clear_button.clicked.connect(self.clear_requested)
        style = QHBoxLayout()
        style.addWidget(self.show_overlay)
        style.addWidget(QLabel("Opacity"))
        style.addWidget(self.opacity, 1)
        style.addWidget(self.outline)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(style)
        lay.addWidget(self.labels, 1)
        lay.addWidget(self.scores_box)
        lay.addWidget(self.clear_button)
        self.set_result(None)

    def set_result(self, result: AnalysisResult | None) -> None:
        self.result = result
        self.labels.blockSignals(True)
        self.labels.clear()
        while self.scores_lay.count():
            w = self.scores_lay.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self._bars: dict[str, QProgressBar] = {}
        if result is None:
            self.title.setText(f"No AI result for this series. Analyze (Ctrl+Shift+A) runs a "
                               f"model.<br><b>{RESEARCH_NOTICE}</b>")
            self.labels.blockSignals(False)
            for w in (self.opacity, self.outline, self.show_overlay, self.clear_button):
                w.setEnabled(False)
            return
        for w in (self.opacity, self.outline, self.show_overlay, self.clear_button):
            w.setEnabled(True)
        if result.provider == "file":  # a DICOM SEG from the study folder
            how = f"algorithm: {result.model_version}<br>" if result.model_version else ""
            self.title.setText(f"<b>{result.model_name}</b><br>{how}over {result.stack_label}"
                               f"<br><b style='color:#f0a040'>{RESEARCH_NOTICE}</b>")
        else:
            self.title.setText(
                f"<b>{result.model_name}</b> version {result.model_version}<br>"
                f"on {result.stack_label} ({result.provider.replace('ExecutionProvider', '')}, "
                f"{result.timings_s.get('total', 0):.1f} s)<br>"
                f"<b style='color:#f0a040'>{RESEARCH_NOTICE}</b>")
        caveats = list(result.warnings)
        if result.slice_scores is not None and not result.calibrated:
            caveats.insert(0, "scores, not calibrated probabilities")
        if caveats:  # flags, geometry and calibration: read before the numbers
            self.title.setText(self.title.text() + "".join(
                f"<br><span style='color:#f0a040'>⚠ {html.escape(c)}</span>" for c in caveats))
        if result.task == "segmentation":
            self.colors = self._saved_colors(result)
            for lab in result.labels:
                if lab.value == 0:
                    continue
                ml = result.label_volumes_ml.get(lab.name, 0.0)
                item = QListWidgetItem(f"{lab.name}   {ml:.1f} mL")
                item.setIcon(_swatch(self.colors.get(lab.value, lab.color)))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                item.setData(Qt.ItemDataRole.UserRole, lab.value)
                item.setToolTip("Untick to hide; double-click to go to its largest section; "
                                "right-click to change its colour")
                self.labels.addItem(item)
            self.labels.show()
        else:
            self.labels.hide()
            top = result.top_label
            for scope in ("slice", "series"):
                text = ("This slice" if scope == "slice" else
                        f"Series: {html.escape(result.aggregate_rule or 'mean of the slices')}")
                head = QLabel(f"<b>{text}</b>")
                head.setWordWrap(True)
                self.scores_lay.addWidget(head)
                if scope == "slice":
                    self._slice_head = head
                for lab in result.labels:
                    bar = QProgressBar()
                    bar.setRange(0, 1000)
                    bar.setFormat(f"{lab.name}  %p%" if result.calibrated else lab.name)
                    color = QColor(*lab.color).name()
                    weight = "bold" if (scope == "series" and lab.name == top) else "normal"
                    bar.setStyleSheet(f"QProgressBar {{ font-weight: {weight}; }} "
                                      f"QProgressBar::chunk {{ background: {color}; }}")
                    self.scores_lay.addWidget(bar)
                    self._bars[f"{scope}:{lab.name}"] = bar
            for lab in result.labels:
                v = result.series_scores.get(lab.name, 0)
                self._bars[f"series:{lab.name}"].setValue(int(1000 * v))
                self._set_bar_text(self._bars[f"series:{lab.name}"], lab.name, v)
        self.labels.blockSignals(False)

    # ------------------------------------------------------------------ label colours

    def _color_key(self, value: int) -> str:
        return f"overlay/colour/{self.result.model_id}/{value}" if self.result else ""

    def _saved_colors(self, result: AnalysisResult) -> dict[int, tuple[int, int, int]]:
        out: dict[int, tuple[int, int, int]] = {}
        if self.settings is None:
            return out
        for lab in result.labels:
            name = self.settings.value(f"overlay/colour/{result.model_id}/{lab.value}")
            if name and QColor(str(name)).isValid():
                c = QColor(str(name))
                out[lab.value] = (c.red(), c.green(), c.blue())
        return out

    def label_color(self, value: int) -> tuple[int, int, int]:
        """The colour label ``value`` is drawn in: the user's choice, else the model's."""
        if value in self.colors:
            return self.colors[value]
        assert self.result is not None
        return next(lab.color for lab in self.result.labels if lab.value == value)

    def set_label_color(self, value: int, rgb: tuple[int, int, int] | None) -> None:
        """Recolour label ``value`` (None: back to the model's colour); remembered per model."""
        if self.result is None:
            return
        if rgb is None:
            self.colors.pop(value, None)
            if self.settings is not None:
                self.settings.remove(self._color_key(value))
        else:
            self.colors[value] = tuple(int(c) for c in rgb)  # type: ignore[assignment]
            if self.settings is not None:
                self.settings.setValue(self._color_key(value), QColor(*rgb).name())
        for i in range(self.labels.count()):
            it = self.labels.item(i)
            if int(it.data(Qt.ItemDataRole.UserRole)) == value:
                it.setIcon(_swatch(self.label_color(value)))
        self.style_changed.emit()

    def _label_menu(self, pos) -> None:
        item = self.labels.itemAt(pos)
        if item is None:
            return
        value = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        choose = menu.addAction("Change colour…")
        reset = menu.addAction("Model's colour")
        reset.setEnabled(value in self.colors)
        go = menu.addAction("Go to largest section")
        act = menu.exec(self.labels.viewport().mapToGlobal(pos))
        if act is choose:
            c = QColorDialog.getColor(QColor(*self.label_color(value)), self,
                                      f"Colour of {item.text().split('   ')[0]}")
            if c.isValid():
                self.set_label_color(value, (c.red(), c.green(), c.blue()))
        elif act is reset:
            self.set_label_color(value, None)
        elif act is go:
            self.jump_to_label.emit(value)

    def show_slice_scores(self, k: int | None) -> None:
        r = self.result
        if r is None or r.slice_scores is None:
            return
        top = None if k is None else int(np.argmax(r.slice_scores[k]))
        outside = k is not None and r.slice_in_range is not None and not r.slice_in_range[k]
        if k is None:  # a reformatted plane: the model scored acquired slices only
            head = "<b>This slice: not available in this plane</b>"
        elif outside:
            head = "<b>This slice: outside the model's range (not in the series score)</b>"
        else:
            head = "<b>This slice</b>"
        self._slice_head.setText(head)
        for i, lab in enumerate(r.labels):
            bar = self._bars[f"slice:{lab.name}"]
            bar.setStyleSheet(bar.styleSheet().replace(
                "font-weight: bold", "font-weight: normal").replace(
                "font-weight: normal", "font-weight: bold" if i == top else "font-weight: normal",
                1))
            bar.setValue(0 if k is None else int(1000 * r.slice_scores[k, i]))
            bar.setEnabled(k is not None)
            if k is None:
                bar.setFormat(f"{lab.name}  n/a")  # never "0 %": no score, not a zero score
                continue
            bar.setFormat(f"{lab.name}  %p%" if r.calibrated else lab.name)
            self._set_bar_text(bar, lab.name, r.slice_scores[k, i])

    def _set_bar_text(self, bar: QProgressBar, name: str, value) -> None:
        """Calibrated probabilities read "87%"; other scores "0.87 score" (never a %)."""
        if self.result is not None and not self.result.calibrated:
            bar.setFormat(name if value is None else f"{name}  {float(value):.2f} score")

    def visible_labels(self) -> set[int]:
        out = set()
        for i in range(self.labels.count()):
            it = self.labels.item(i)
            if it.checkState() == Qt.CheckState.Checked:
                out.add(int(it.data(Qt.ItemDataRole.UserRole)))
        return out
