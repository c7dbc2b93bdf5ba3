"""The export settings keys and the options dialog: resolution and patient details."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QWidget,
)

KEY_PATIENT = "export/include_patient_details"
KEY_RESOLUTION = "export/resolution"
KEY_FOLDER = "export/folder"
DISPLAYED = 0  # resolution choice: as displayed; n > 0: native image x n


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
