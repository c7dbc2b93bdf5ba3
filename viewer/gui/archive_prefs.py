"""Preferences ▸ Archives: the DIMSE nodes and DICOMweb endpoints the window talks to, kept in
the window's QSettings (key ``archives/nodes``, a JSON list of
:func:`viewer.pacs.nodes.node_to_dict`), with a Verify button (C-ECHO, or a one-result QIDO
request) that runs in the background.

Secrets (bearer token, password) are stored (QSettings is the user's own file) but never
shown in full: their fields are password fields, lists show :meth:`describe`, which names a
node by its address only, and messages never carry them.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from viewer.gui.archive_jobs import Runner, pacs_client
from viewer.pacs.errors import PacsError
from viewer.pacs.nodes import (
    DEFAULT_AE_TITLE,
    DEFAULT_SCP_PORT,
    DicomWebNode,
    DimseNode,
    Node,
    node_from_dict,
    node_to_dict,
)

KEY_NODES = "archives/nodes"


def load_nodes(settings: QSettings) -> tuple[list[Node], list[str]]:
    """The configured nodes and, for each stored entry that no longer reads, a one-line
    reason (it is left out; the others load)."""
    raw = settings.value(KEY_NODES, "")
    try:
        items = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return [], [f"the archive settings ({KEY_NODES}) are damaged; add the archives again "
                    "in File ▸ Archives…"]
    nodes, problems = [], []
    for item in items if isinstance(items, list) else []:
        try:
            nodes.append(node_from_dict(item))
        except (PacsError, TypeError, AttributeError) as exc:
            problems.append(f"an archive setting was left out: {exc}")
    return nodes, problems


def save_nodes(settings: QSettings, nodes: list[Node]) -> None:
    settings.setValue(KEY_NODES, json.dumps([node_to_dict(n) for n in nodes]))
    settings.sync()


def _file_row(edit: QLineEdit, parent: QWidget, title: str) -> QWidget:
    """A path field with a Browse button (PEM files)."""
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    browse = QPushButton("Browse…")

    def pick() -> None:
        path, _ = QFileDialog.getOpenFileName(parent, title, edit.text(),
                                              "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            edit.setText(path)

    browse.clicked.connect(pick)
    lay.addWidget(browse)
    return box


class NodeEditor(QDialog):
    """Edits one node (a DIMSE node or a DICOMweb endpoint); :meth:`node` builds it and
    raises :class:`PacsError` with the field to fix."""

    def __init__(self, node: Node | None = None, kind: str = "dimse",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        kind = node.kind if node is not None else kind
        self.kind = kind
        self.setWindowTitle("Archive (DIMSE)" if kind == "dimse" else "Archive (DICOMweb)")
        self.name = QLineEdit(node.name if node else "")
        form = QFormLayout()
        form.addRow("&Name:", self.name)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._dimse_page(node if isinstance(node, DimseNode) else None))
        self.pages.addWidget(self._web_page(node if isinstance(node, DicomWebNode) else None))
        self.pages.setCurrentIndex(0 if kind == "dimse" else 1)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_ok_clicked)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.pages)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._node: Node | None = None

    def _dimse_page(self, n: DimseNode | None) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.ae_title = QLineEdit(n.ae_title if n else "")
        self.ae_title.setMaxLength(16)
        self.host = QLineEdit(n.host if n else "")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(n.port if n else 104)
        self.our_ae = QLineEdit(n.our_ae_title if n else DEFAULT_AE_TITLE)
        self.our_ae.setMaxLength(16)
        self.scp_port = QSpinBox()
        self.scp_port.setRange(1, 65535)
        self.scp_port.setValue(n.scp_port if n else DEFAULT_SCP_PORT)
        self.tls = QCheckBox("Use TLS")
        self.tls.setChecked(bool(n and n.tls))
        self.ca_file = QLineEdit(n.ca_file if n else "")
        self.ca_file.setPlaceholderText("the system's CAs")
        self.cert_file = QLineEdit(n.cert_file if n else "")
        self.key_file = QLineEdit(n.key_file if n else "")
        form.addRow("Archive &AE title:", self.ae_title)
        form.addRow("&Host:", self.host)
        form.addRow("&Port:", self.port)
        form.addRow("&This station's AE title:", self.our_ae)
        form.addRow("Storage &SCP port:", self.scp_port)
        form.addRow(QLabel("The archive must know this station by that AE title, this "
                           "computer's address and the SCP port for C-MOVE."))
        form.addRow(self.tls)
        form.addRow("CA file:", _file_row(self.ca_file, self, "CA certificates"))
        form.addRow("Our certificate:", _file_row(self.cert_file, self, "Certificate"))
        form.addRow("Our key:", _file_row(self.key_file, self, "Private key"))
        return page

    def _web_page(self, n: DicomWebNode | None) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.url = QLineEdit(n.url if n else "")
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.token = QLineEdit(n.token if n else "")
        self.username = QLineEdit(n.username if n else "")
        self.password = QLineEdit(n.password if n else "")
        for secret in (self.token, self.password):  # stored, never shown
            secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.web_ca = QLineEdit(n.ca_file if n else "")
        self.web_ca.setPlaceholderText("the system's CAs")
        form.addRow("Base &URL:", self.url)
        form.addRow("Bearer &token:", self.token)
        form.addRow("or &user name:", self.username)
        form.addRow("and pass&word:", self.password)
        form.addRow("CA file:", _file_row(self.web_ca, self, "CA certificates"))
        return page

    def build(self) -> Node:
        """The node the fields describe (:class:`PacsError` when a field is invalid)."""
        if self.kind == "dimse":
            return DimseNode(self.name.text().strip(), self.ae_title.text(),
                             self.host.text().strip(), self.port.value(),
                             our_ae_title=self.our_ae.text(), scp_port=self.scp_port.value(),
                             tls=self.tls.isChecked(), ca_file=self.ca_file.text().strip(),
                             cert_file=self.cert_file.text().strip(),
                             key_file=self.key_file.text().strip())
        return DicomWebNode(self.name.text().strip(), self.url.text().strip(),
                            token=self.token.text(), username=self.username.text().strip(),
                            password=self.password.text(), ca_file=self.web_ca.text().strip())

    def _on_ok_clicked(self) -> None:
        try:
            self._node = self.build()
        except PacsError as exc:
            self.error.setText(str(exc))
            return
        self.accept()

    def node(self) -> Node | None:
        return self._node


class ArchivesDialog(QDialog):
    """The list of archives: add (DIMSE or DICOMweb), edit, remove, verify. OK stores them
    in ``settings``; :attr:`nodes` is the edited list."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Archives")
        self.resize(560, 360)
        self.settings = settings
        self.nodes, problems = load_nodes(settings)
        self.runner = Runner(self)
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _: self.edit_selected())
        self.status = QLabel("\n".join(problems))
        self.status.setWordWrap(True)
        side = QVBoxLayout()
        for text, slot in (("Add &DIMSE node…", lambda: self.add("dimse")),
                           ("Add DICOM&web endpoint…", lambda: self.add("dicomweb")),
                           ("&Edit…", self.edit_selected), ("&Remove", self.remove_selected),
                           ("&Verify", self.verify_selected)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            side.addWidget(b)
            if text == "&Verify":
                self.verify_button = b
        side.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addLayout(side)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_ok_clicked)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(body)
        lay.addWidget(self.status)
        lay.addWidget(buttons)
        self._refill()

    def _refill(self) -> None:
        row = self.list.currentRow()
        self.list.clear()
        for n in self.nodes:
            self.list.addItem(n.describe())
        if self.nodes:
            self.list.setCurrentRow(min(max(row, 0), len(self.nodes) - 1))

    def _selected(self) -> int | None:
        row = self.list.currentRow()
        return row if 0 <= row < len(self.nodes) else None

    def _unique(self, node: Node, skip: int | None) -> bool:
        if any(n.name == node.name for i, n in enumerate(self.nodes) if i != skip):
            self.status.setText(f"an archive is already named {node.name!r}; choose another "
                                "name")
            return False
        return True

    def add(self, kind: str, editor: NodeEditor | None = None) -> None:
        """Open an editor for a new node (``editor``: one prepared by a test)."""
        dlg = editor or NodeEditor(kind=kind, parent=self)
        if (editor is not None or dlg.exec()) and dlg.node() and self._unique(dlg.node(), None):
            self.nodes.append(dlg.node())
            self._refill()
            self.list.setCurrentRow(len(self.nodes) - 1)

    def edit_selected(self) -> None:
        i = self._selected()
        if i is None:
            return
        dlg = NodeEditor(self.nodes[i], parent=self)
        if dlg.exec() and dlg.node() and self._unique(dlg.node(), i):
            self.nodes[i] = dlg.node()
            self._refill()

    def remove_selected(self) -> None:
        i = self._selected()
        if i is not None:
            del self.nodes[i]
            self._refill()

    def verify_selected(self) -> None:
        """C-ECHO or QIDO in the background; the round trip or the reason below the list."""
        i = self._selected()
        if i is None:
            return
        node = self.nodes[i]
        self.status.setText(f"Verifying {node.describe()}…")
        self.verify_button.setEnabled(False)
        self.runner.start("verify", lambda _step, _cancel: pacs_client(node).verify(),
                          finished=lambda s: self._on_verify_done(
                              f"✓ {node.name} answered in {s * 1000:.0f} ms"),
                          failed=lambda msg: self._on_verify_done(f"✗ {msg}"))

    def _on_verify_done(self, text: str) -> None:
        self.runner.done("verify")
        self.verify_button.setEnabled(True)
        self.status.setText(text)

    def _on_ok_clicked(self) -> None:
        save_nodes(self.settings, self.nodes)
        self.accept()

    def done(self, result: int) -> None:  # noqa: D102 (closing cancels a verify)
        self.runner.cancel("verify")
        super().done(result)
