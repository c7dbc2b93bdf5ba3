"""File ▸ Send to archive: the series on screen, the study's SEG/SR objects or chosen files
(SEG, SR, secondary captures...) to a configured archive by C-STORE or STOW-RS, in the
background, with the result per instance."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.archive_jobs import Runner, pacs_client, report_problem
from viewer.gui.archive_search import _table


def shown_series_files(window) -> list[str]:
    """Files of the series on screen (every frame's file once), [] when none."""
    px = getattr(window.view, "pixels", None)
    if px is None:
        return []
    return sorted({f.header.path for f in px.stack.frames})


def study_object_files(window) -> list[str]:
    """The open study's non-image objects (SEG, SR, KOS...)."""
    catalog = getattr(window, "catalog", None)
    return sorted({o.header.path for o in catalog.objects()}) if catalog else []


def outcome_text(o) -> str:
    if o.ok:
        return "✓ stored" if o.status == 0 else f"✓ stored (warning 0x{o.status:04X})"
    code = f"0x{o.status:04X}" if o.status >= 0 else "aborted"
    return f"✗ {code}{': ' + o.message if o.message else ''}"


class SendDialog(QDialog):
    """Choose an archive and files; Send runs in the background; a row per file shows its
    outcome. ``nodes``: the configured archives."""

    def __init__(self, window, nodes: list, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setWindowTitle("Send to archive")
        self.resize(640, 420)
        self.window_, self.nodes = window, {n.name: n for n in nodes}
        self.runner = Runner(self)
        self.files: list[str] = []
        self.outcomes: list = []
        self.node = QComboBox()
        self.node.addItems(list(self.nodes))
        form = QFormLayout()
        form.addRow("&Archive:", self.node)
        picks = QHBoxLayout()
        for text, slot in (("Series on screen", self.add_shown_series),
                           ("Study's SEG/SR objects", self.add_study_objects),
                           ("Files…", self.choose_files), ("Clear", self.clear)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            picks.addWidget(b)
        self.table = _table((("File", ""), ("Result", "")))
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.send_button = QPushButton("&Send")
        self.send_button.clicked.connect(self.send)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        self.status = QLabel("Choose what to send")
        self.status.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        for b in (self.send_button, self.cancel_button, close):
            bottom.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(picks)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        lay.addLayout(bottom)

    def set_files(self, files: list[str]) -> None:
        self.files = sorted(set(map(str, files)))
        self.table.setRowCount(len(self.files))
        for r, f in enumerate(self.files):
            self.table.setItem(r, 0, QTableWidgetItem(Path(f).name))
            self.table.item(r, 0).setToolTip(f)
            self.table.setItem(r, 1, QTableWidgetItem(""))
        self.status.setText(f"{len(self.files)} file(s) to send")

    def add_shown_series(self) -> None:
        self.set_files(self.files + shown_series_files(self.window_))

    def add_study_objects(self) -> None:
        self.set_files(self.files + study_object_files(self.window_))

    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Files to send", "",
                                                "DICOM files (*.dcm *);;All files (*)")
        if paths:
            self.set_files(self.files + paths)

    def clear(self) -> None:
        self.set_files([])

    def send(self) -> None:
        node = self.nodes.get(self.node.currentText())
        if node is None or not self.files:
            self.status.setText("Choose an archive (File ▸ Archives…) and files to send")
            return
        files = list(self.files)
        self.outcomes = []
        self.progress.setRange(0, len(files))
        self.progress.setValue(0)
        self.send_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Sending {len(files)} file(s) to {node.name}…")
        self.runner.start("send", lambda step, cancel: pacs_client(node).send(
            files, progress=step, cancel=cancel),
                          step=self._on_step, finished=self._on_finished,
                          failed=self._on_failed)

    def _on_step(self, p) -> None:
        self.progress.setValue(p.done)
        if 0 < p.done <= self.table.rowCount():
            self.table.item(p.done - 1, 1).setText("sent…")

    def _on_finished(self, outcomes) -> None:
        self.runner.done("send")
        self.outcomes = outcomes
        rows = {f: r for r, f in enumerate(self.files)}
        for o in outcomes:
            r = rows.get(str(o.path))
            if r is not None:
                self.table.item(r, 1).setText(outcome_text(o))
        ok = sum(o.ok for o in outcomes)
        left = len(self.files) - len(outcomes)
        self.status.setText(f"{ok} of {len(self.files)} stored"
                            f"{f', {len(outcomes) - ok} refused' if len(outcomes) > ok else ''}"
                            f"{f', {left} not sent (cancelled)' if left else ''}")
        self._idle()
        if len(outcomes) > ok:
            report_problem(self.window_,
                           f"Send to {self.node.currentText()}: {len(outcomes) - ok} of "
                           f"{len(outcomes)} instances refused (see File ▸ Send to archive)")

    def _on_failed(self, message: str) -> None:
        self.runner.done("send")
        self.status.setText(f"✗ {message}")
        self._idle()
        report_problem(self.window_, message)

    def cancel(self) -> None:
        self.runner.cancel("send")
        self.status.setText("Send cancelled; the instances already stored stay in the archive")
        self._idle()

    def _idle(self) -> None:
        self.send_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def done(self, result: int) -> None:  # noqa: D102 (closing cancels a send)
        self.runner.cancel("send")
        super().done(result)
