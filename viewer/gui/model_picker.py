"""The Analyze dialog: pick a model; models that cannot run say why."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from viewer.ai.registry import cost_hint
from viewer.ai.result import RESEARCH_NOTICE


class ModelPicker(QDialog):
    """``rows`` are ``(ModelEntry, reason or None)``, applicable ones first."""

    def __init__(self, rows, series_label: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Analyze with a model")
        self.chosen = None
        self.list = QListWidget()
        self.list.setWordWrap(True)
        for entry, reason in rows:
            m = entry.manifest
            text = f"{m.name} {m.version}  ({m.task}, {m.mode.upper()})"
            if reason:
                text += f"\n    cannot run: {reason}"
            else:
                cost = cost_hint(entry)
                text += f"\n    takes {cost}" if cost else ""
                text += f"\n    {m.limits[:140]}…"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setToolTip(f"{m.intended_use}\n\nLimits: {m.limits}\nLicence: {m.licence}\n"
                            f"Source: {m.source}")
            if reason:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        for i in range(self.list.count()):
            if self.list.item(i).flags() & Qt.ItemFlag.ItemIsEnabled:
                self.list.setCurrentRow(i)
                break
        self.list.itemActivated.connect(lambda _: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Analyze")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Series: {series_label}. {RESEARCH_NOTICE}"))
        lay.addWidget(self.list)
        lay.addWidget(buttons)
        self.resize(640, 360)

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        self.chosen = item.data(Qt.ItemDataRole.UserRole)
        super().accept()
