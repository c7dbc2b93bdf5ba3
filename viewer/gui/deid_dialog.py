"""File ▸ Export de-identified: a copy of the open study (or the series on screen) under the
DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile with the options the
user picks (:mod:`viewer.deid`), into an empty folder, in the background with progress and
cancel.

Images that may show identity in their pixels (Burned In Annotation YES, or US/SC that do
not say NO) are found first (headers only, in the background); they are exported only when
the user confirms. The export is recorded in the audit trail (study UIDs hashed).
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer.deid import DeidOptions
from viewer.deid.profile import CODES
from viewer.gui.archive_jobs import Runner, report_problem

OPTION_FIELDS = ("modified_dates", "patient_characteristics", "clean_descriptors",
                 "safe_private")
KEY_DEID_FOLDER = "deid/folder"


def ask_burned_in(parent: QWidget, flagged: list[tuple[str, str]]) -> bool | None:
    """Ask whether to export the images flagged for burned-in identity: True (export them,
    the user has checked the pixels), False (leave them out), None (cancel the export)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Burned-in annotation")
    box.setText(f"{len(flagged)} image(s) may show names or IDs burned into their pixels, "
                "which de-identification of the header cannot remove.")
    box.setInformativeText("Export them only if you have checked their pixels.")
    box.setDetailedText("\n".join(reason for _, reason in flagged[:200]))
    include = box.addButton("Export them too", QMessageBox.ButtonRole.AcceptRole)
    leave = box.addButton("Leave them out", QMessageBox.ButtonRole.RejectRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(leave)
    box.exec()
    clicked = box.clickedButton()
    return True if clicked is include else False if clicked is leave else None


class DeidDialog(QDialog):
    """Scope (study or series on screen), the four options, the output folder; Export runs
    the burned-in check and then the export in the background. ``ask`` decides about flagged
    images (:func:`ask_burned_in`; tests pass their own)."""

    def __init__(self, window, settings, parent: QWidget | None = None, ask=ask_burned_in):
        super().__init__(parent or window)
        self.setWindowTitle("Export de-identified")
        self.window_, self.settings, self.ask = window, settings, ask
        self.runner = Runner(self)
        self.report = None
        self.scope = QComboBox()
        self.scope.addItem("The whole open study", "study")
        self.scope.addItem("The series on screen (and its SEG/SR)", "series")
        self.options: dict[str, QCheckBox] = {}
        box = QGroupBox("Basic Application Level Confidentiality Profile (PS3.15 Annex E), "
                        "with:")
        opts = QVBoxLayout(box)
        for key in OPTION_FIELDS:
            cb = QCheckBox(CODES[key][1])
            cb.setChecked(self.settings.value(f"deid/{key}", False, type=bool))
            self.options[key] = cb
            opts.addWidget(cb)
        self.folder = QLineEdit(str(self.settings.value(KEY_DEID_FOLDER, "") or ""))
        self.folder.setPlaceholderText("a new or empty folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        folder = QHBoxLayout()
        folder.addWidget(self.folder, 1)
        folder.addWidget(browse)
        form = QFormLayout()
        form.addRow("&Export:", self.scope)
        form.addRow("Output folder:", folder)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.status = QLabel("Names, IDs and dates are removed or replaced; UIDs are "
                             "remapped consistently so that SEG/SR references stay valid.")
        self.status.setWordWrap(True)
        self.export_button = QPushButton("&Export")
        self.export_button.clicked.connect(self.export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        for b in (self.export_button, self.cancel_button, close):
            bottom.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(box)
        lay.addWidget(self.status)
        lay.addLayout(bottom)

    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the de-identified copy",
                                                self.folder.text() or os.path.expanduser("~"))
        if path:
            self.folder.setText(path)

    def chosen_options(self) -> DeidOptions:
        return DeidOptions(**{k: cb.isChecked() for k, cb in self.options.items()})

    def files(self) -> list[str]:
        from viewer.deid import study_files

        catalog = getattr(self.window_, "catalog", None)
        if catalog is None:
            return []
        stack = None
        if self.scope.currentData() == "series":
            px = getattr(self.window_.view, "pixels", None)
            if px is None:
                return []
            stack = px.stack
        return study_files(catalog, stack)

    def export(self) -> None:
        """Check for burned-in images (background), ask, then export (background)."""
        from viewer.deid import find_burned_in

        files, out = self.files(), self.folder.text().strip()
        if not files:
            self.status.setText("Open a study first (the series on screen for a series)")
            return
        if not out:
            self.status.setText("Choose an output folder (a new or empty one)")
            return
        for key, cb in self.options.items():
            self.settings.setValue(f"deid/{key}", cb.isChecked())
        self.settings.setValue(KEY_DEID_FOLDER, out)
        self._busy(True, f"Checking {len(files)} file(s) for burned-in annotation…")
        self.progress.setRange(0, 0)
        self.runner.start("check", lambda _s, _c: find_burned_in(files),
                          finished=lambda flagged: self._on_checked(files, out, flagged),
                          failed=self._on_failed)

    def _on_checked(self, files: list[str], out: str, flagged) -> None:
        from viewer.deid import export_deidentified, record_audit

        self.runner.done("check")
        include = False
        if flagged:
            include = self.ask(self, flagged)
            if include is None:
                self._busy(False, "Export cancelled; nothing was written")
                self.progress.setRange(0, 1)
                return
        options = self.chosen_options()
        self.progress.setRange(0, len(files))
        self.status.setText(f"De-identifying {len(files)} file(s)…")

        def run(step, cancel):
            report = export_deidentified(files, out, options, include_burned_in=include,
                                         progress=lambda d, t: step((d, t)), cancel=cancel)
            record_audit(report)  # here, so that a closed dialog's export is recorded too
            return report

        self.runner.start("export", run, progress=lambda d, _t: self.progress.setValue(d),
            finished=self._on_exported, failed=self._on_failed)

    def _on_exported(self, report) -> None:
        self.runner.done("export")
        self.report = report
        parts = [f"{len(report.written)} file(s) of {report.patients} patient(s) written to "
                 f"{report.out}"]
        if report.flagged:
            parts.append(f"{len(report.flagged)} held back for burned-in annotation")
        if report.failed:
            parts.append(f"{len(report.failed)} could not be read")
            more = len(report.failed) - 1
            report_problem(self.window_, f"De-identified export: {report.failed[0][1]}"
                           f"{f' (and {more} more)' if more else ''}")
        if report.cancelled:
            parts.append("cancelled: the files written are complete, the rest were not written")
        self._busy(False, ("✓ " if not report.failed else "⚠ ") + "; ".join(parts))

    def _on_failed(self, message: str) -> None:
        for slot in ("check", "export"):
            self.runner.done(slot)
        self.progress.setRange(0, 1)
        self._busy(False, f"✗ {message}")
        report_problem(self.window_, message)

    def cancel(self) -> None:
        """Stop at the next file; the files written so far are complete (the job ends at
        once and records what it wrote)."""
        if self.runner.jobs.get("check") is not None:
            self.runner.cancel("check")
            self.progress.setRange(0, 1)
            self._busy(False, "Export cancelled; nothing was written")
            return
        job = self.runner.jobs.get("export")
        if job is not None:
            job.cancel()
            self.status.setText("Cancelling…")

    def _busy(self, busy: bool, text: str) -> None:
        self.export_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.status.setText(text)

    def done(self, result: int) -> None:  # noqa: D102 (closing cancels an export)
        for slot in ("check", "export"):
            self.runner.cancel(slot)
        super().done(result)
