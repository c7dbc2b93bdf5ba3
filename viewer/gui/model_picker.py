"""The Analyze dialog: pick a model; models that cannot run say why.

Finding the models reads every model folder and hashes weights not seen before (a 20 GB file
takes a minute once), so :func:`discover_in_background` runs it on a worker thread; the picker
opens at once, says it is looking, and lists the models when discovery is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from viewer.ai.calibration import machine_gflops
from viewer.ai.registry import (
    applicability_warnings,
    cost_hint,
    discover,
    not_applicable_reason,
)
from viewer.ai.result import RESEARCH_NOTICE
from viewer.gui.workers import CallJob

log = logging.getLogger(__name__)

def discover_in_background(user_dirs: list[str], verify: bool,
                           on_found: Callable[[int, object], None]) -> CallJob:
    """Run :func:`~viewer.ai.registry.discover` off the GUI thread and call ``on_found(0,
    (entries, errors))`` on the GUI thread. Pass a bound method of a QObject, so that a
    receiver closed meanwhile is not called."""
    def work():
        errors: list[str] = []
        try:  # the speed test scales the picker's time estimates (cost_hint); cached
            machine_gflops()
        except Exception:  # an estimate left unscaled is no reason to lose the models
            log.exception("speed test failed")
        try:
            return discover(list(user_dirs), verify=verify, errors=errors), errors
        except Exception as exc:  # discover isolates each model; this is a bug, say so
            log.exception("model discovery failed")
            return [], [*errors, f"model discovery failed ({type(exc).__name__}: {exc}); "
                                 f"see the log"]

    # No Qt parent (see viewer.gui.workers): a picker closed meanwhile only drops its
    # connection, and the running thread keeps the job alive until it has emitted.
    job = CallJob(0, work)
    job.finished.connect(on_found)
    job.start()
    return job


class ModelPicker(QDialog):
    """``rows`` are ``(ModelEntry, reason or None)``, applicable ones first; ``None`` until
    :meth:`set_rows` (or :meth:`set_found`) fills the list."""

    def __init__(self, rows, series_label: str, parent=None, stack=None):
        super().__init__(parent)
        self.setWindowTitle("Analyze with a model")
        self.chosen = None
        self.stack = stack  # the series the models are checked against (set_found)
        self.ready = False
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.itemActivated.connect(lambda _: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Analyze")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Series: {series_label}. {RESEARCH_NOTICE}"))
        lay.addWidget(self.list)
        lay.addWidget(buttons)
        self.resize(640, 360)
        if rows is None:
            self.ok.setEnabled(False)
            self._add_note("Looking for models…")
        else:
            self.set_rows(rows)

    def _add_note(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
        self.list.addItem(item)

    def set_found(self, _request: int, found) -> None:
        """Slot for :func:`discover_in_background`: ``found`` is ``(entries, errors)``; each
        entry is checked against :attr:`stack`, manifests that failed are listed last."""
        entries, errors = found
        rows = [(e, e.problem or not_applicable_reason(e, self.stack)) for e in entries]
        rows.sort(key=lambda r: r[1] is not None)
        self.set_rows(rows, errors)

    def set_rows(self, rows, problems: list[str] = ()) -> None:
        """Show ``rows`` (see the class) and, greyed at the end, ``problems``: one line per
        model folder that could not be read."""
        self.list.clear()
        for entry, reason in rows:
            m = entry.manifest
            text = f"{m.name} {m.version}  ({m.task}, {m.mode.upper()})"
            if reason:
                text += f"\n    cannot run: {reason}"
            else:
                cost = cost_hint(entry)
                text += f"\n    takes {cost}" if cost else ""
                if self.stack is not None:  # "warn" manifests: runs, but says why not to
                    text += "".join(f"\n    ⚠ {w}" for w in applicability_warnings(entry,
                                                                                self.stack))
                text += f"\n    {m.limits[:140]}…"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setToolTip(f"{m.intended_use}\n\nLimits: {m.limits}\nLicence: {m.licence}\n"
                            f"Source: {m.source}")
            if reason:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        for problem in problems:
            self._add_note(f"cannot be used: {problem}")
        if not rows and not problems:
            self._add_note("No models found.")
        for i in range(self.list.count()):
            if self.list.item(i).flags() & Qt.ItemFlag.ItemIsEnabled:
                self.list.setCurrentRow(i)
                break
        self.ok.setEnabled(True)
        self.ready = True

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        self.chosen = item.data(Qt.ItemDataRole.UserRole)
        super().accept()
