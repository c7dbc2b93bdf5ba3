"""File ▸ Preferences: the user's defaults (window per modality, scroll direction, AI overlay
style, model folder, AI threads, patient details in exports), stored in the QSettings the
window was given.

:class:`Preferences` is the one place that names each preference's QSettings key, type and
default; :class:`PreferencesDialog` edits a copy and hands it back on OK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from viewer.display.window import CT_PRESETS
from viewer.gui.export_actions import KEY_PATIENT

KEY_MODEL_FOLDER = "ai/model_folder"  # also written by AI ▸ Model folder…
HEADER, AUTO = "header", "auto"  # window choices besides the CT presets (SliceView.apply_preset)
CT_WINDOW_CHOICES = (HEADER, AUTO, *CT_PRESETS)
OTHER_WINDOW_CHOICES = (HEADER, AUTO)
SCROLL_CHOICES = ("acquired", "reversed")  # SliceView.scroll_direction


def max_threads() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Preferences:
    """The user's defaults. Field defaults are the factory settings (Restore defaults).

    ``ct_window`` / ``other_window``: the window a series opens with, ``"header"`` (its first
    stored window, else automatic), ``"auto"`` (percentiles) or, for CT, a ``CT_PRESETS`` name.
    ``overlay_opacity``: AI label opacity in percent (0..100). ``ai_threads``: onnxruntime
    intra-op threads on the CPU, 0 for one per core. ``scroll_direction``: ``"acquired"``
    (image 1 first, where the scanner put it) or ``"reversed"``.
    """

    ct_window: str = HEADER
    other_window: str = HEADER
    overlay_opacity: int = 45
    overlay_outline: bool = False
    model_folder: str = ""
    ai_threads: int = 0
    include_patient_details: bool = False
    scroll_direction: str = "acquired"

    @classmethod
    def load(cls, settings: QSettings) -> Preferences:
        """Read every preference from ``settings``; a missing or invalid value reads as its
        default."""
        defaults = cls()
        values = {}
        for f in fields(cls):
            default = getattr(defaults, f.name)
            value = _convert(settings.value(KEYS[f.name]), type(default), default)
            values[f.name] = value if _valid(f.name, value) else default
        return cls(**values)

    def save(self, settings: QSettings) -> None:
        for f in fields(self):
            settings.setValue(KEYS[f.name], getattr(self, f.name))
        settings.sync()


KEYS: dict[str, str] = {
    "ct_window": "display/default_window_ct",
    "other_window": "display/default_window_other",
    "overlay_opacity": "overlay/opacity",
    "overlay_outline": "overlay/outline",
    "model_folder": KEY_MODEL_FOLDER,
    "ai_threads": "ai/threads",
    "include_patient_details": KEY_PATIENT,  # the export dialogs' own choice, remembered
    "scroll_direction": "display/scroll_direction",
}


def _convert(raw, kind: type, default):
    """A QSettings value (INI files give strings) as ``kind``, or ``default``."""
    if raw is None:
        return default
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        return {"true": True, "1": True, "false": False, "0": False}.get(text, default)
    if kind is int:
        try:
            return int(str(raw).strip())
        except ValueError:
            return default
    return str(raw)


def _valid(name: str, value) -> bool:
    if name == "ct_window":
        return value in CT_WINDOW_CHOICES
    if name == "other_window":
        return value in OTHER_WINDOW_CHOICES
    if name == "overlay_opacity":
        return 0 <= value <= 100
    if name == "ai_threads":
        return 0 <= value <= max_threads()
    if name == "scroll_direction":
        return value in SCROLL_CHOICES
    return True


def _window_text(choice: str) -> str:
    if choice == HEADER:
        return "Header window (else automatic)"
    if choice == AUTO:
        return "Automatic (percentiles)"
    w = CT_PRESETS[choice]
    return f"CT {choice} ({w.center:g} / {w.width:g} HU)"


class PreferencesDialog(QDialog):
    """Edits a copy of ``prefs``; after OK, :meth:`preferences` holds the user's choice."""

    def __init__(self, prefs: Preferences, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")

        self.ct_window = QComboBox()
        for choice in CT_WINDOW_CHOICES:
            self.ct_window.addItem(_window_text(choice), choice)
        self.other_window = QComboBox()
        for choice in OTHER_WINDOW_CHOICES:
            self.other_window.addItem(_window_text(choice), choice)
        self.scroll_direction = QComboBox()
        self.scroll_direction.addItem("As acquired (image 1 first)", "acquired")
        self.scroll_direction.addItem("Reversed", "reversed")
        self.scroll_direction.setToolTip("Order of the slider, wheel and keys through a "
                                         "series; the images themselves are not reordered")
        display = QGroupBox("Display")
        form = QFormLayout(display)
        form.addRow("Default window for &CT:", self.ct_window)
        form.addRow("Default window for other &modalities:", self.other_window)
        form.addRow(_note("Used when a series is shown and by View ▸ Reset view; the series "
                          "on screen keeps its window."))
        form.addRow("Scroll &direction:", self.scroll_direction)

        self.opacity = QSpinBox()
        self.opacity.setRange(0, 100)
        self.opacity.setSuffix(" %")
        self.outline = QComboBox()
        self.outline.addItem("Filled", False)
        self.outline.addItem("Outlines", True)
        overlay = QGroupBox("AI overlay")
        form = QFormLayout(overlay)
        form.addRow("&Opacity:", self.opacity)
        form.addRow("&Style:", self.outline)
        form.addRow(_note("Label colours chosen per model (right-click a label in the AI "
                          "result) are kept, also by Restore defaults."))

        self.model_folder = QLineEdit()
        self.model_folder.setPlaceholderText("none: the bundled models only")
        self.model_folder.setToolTip("A folder with one sub-folder (model.onnx and "
                                     "manifest.json) per model; same as AI ▸ Model folder…")
        self.browse = QPushButton("&Browse…")
        self.browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model_folder, 1)
        row.addWidget(self.browse)
        models = QGroupBox("AI models")
        form = QFormLayout(models)
        form.addRow("Model &folder:", row)
        form.labelForField(row).setBuddy(self.model_folder)

        self.threads = QSpinBox()
        self.threads.setRange(0, max_threads())
        self.threads.setSpecialValueText("Automatic (one per core)")
        self.threads.setToolTip("Threads onnxruntime uses on the CPU; takes effect at the "
                                "next Analyze")
        performance = QGroupBox("Performance")
        form = QFormLayout(performance)
        form.addRow("AI &threads:", self.threads)

        self.include_patient = QCheckBox("Include &patient details in exports")
        self.include_patient.setToolTip("The default of the same choice in the export dialogs")
        export = QGroupBox("Export")
        QVBoxLayout(export).addWidget(self.include_patient)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button = self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button.setText("&Restore defaults")
        self.restore_button.clicked.connect(lambda: self.set_preferences(Preferences()))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        lay = QVBoxLayout(self)
        for box in (display, overlay, models, performance, export):
            lay.addWidget(box)
        lay.addWidget(self.buttons)
        order = (self.ct_window, self.other_window, self.scroll_direction, self.opacity,
                 self.outline, self.model_folder, self.browse, self.threads,
                 self.include_patient, self.buttons)
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)
        self.set_preferences(prefs)
        self.ct_window.setFocus()

    def set_preferences(self, prefs: Preferences) -> None:
        """Show ``prefs`` in the fields (nothing is stored until OK)."""
        self.ct_window.setCurrentIndex(self.ct_window.findData(prefs.ct_window))
        self.other_window.setCurrentIndex(self.other_window.findData(prefs.other_window))
        self.opacity.setValue(prefs.overlay_opacity)
        self.outline.setCurrentIndex(self.outline.findData(prefs.overlay_outline))
        self.model_folder.setText(prefs.model_folder)
        self.threads.setValue(prefs.ai_threads)
        self.include_patient.setChecked(prefs.include_patient_details)
        self.scroll_direction.setCurrentIndex(
            self.scroll_direction.findData(prefs.scroll_direction))

    def preferences(self) -> Preferences:
        """The values in the fields."""
        return Preferences(
            ct_window=self.ct_window.currentData(),
            other_window=self.other_window.currentData(),
            overlay_opacity=self.opacity.value(),
            overlay_outline=bool(self.outline.currentData()),
            model_folder=self.model_folder.text().strip(),
            ai_threads=self.threads.value(),
            include_patient_details=self.include_patient.isChecked(),
            scroll_direction=self.scroll_direction.currentData(),
        )

    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Folder with your models (one sub-folder with manifest.json per model)",
            self.model_folder.text().strip() or os.path.expanduser("~"))
        if path:
            self.model_folder.setText(path)


def _note(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    return lab
