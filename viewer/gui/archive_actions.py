"""Archives, de-identified export and the audit log in the main window: one controller that
owns its actions, its dock and its jobs (the window only calls :func:`install`).

- File ▸ Search archive… (Ctrl+Shift+F): the "Search archive" dock (query, results, series,
  retrieve into the local study cache, the cached studies);
- File ▸ Send to archive…, File ▸ Export de-identified…, File ▸ Archives… (the nodes);
- Help ▸ Audit log.

Only the window's public parts are used: ``menuBar()``, ``add_action``, ``add_dock``,
``open_folder``, ``report_problem``, ``settings``, ``hide_patient_action``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from viewer.gui.archive_prefs import ArchivesDialog, load_nodes
from viewer.gui.archive_retrieve import RetrievePanel
from viewer.gui.archive_search import SearchPanel

SEARCH_SHORTCUT = "Ctrl+Shift+F"


def _move_before(window, menu_title: str, action, before_text: str,
                 separator: bool = False) -> None:
    """Put ``action`` (added last by ``add_action``) before the item ``before_text`` of the
    top-level menu ``menu_title``, when there is one (keeps Quit last); ``separator``: and a
    separator between them."""
    for top in window.menuBar().actions():
        menu = top.menu()
        if menu is None or top.text() != menu_title:
            continue
        for a in menu.actions():
            if a.text() == before_text:
                menu.removeAction(action)
                menu.insertAction(a, action)
                if separator:
                    menu.insertSeparator(a)
                return


class ArchiveController(QObject):
    """The archive features of one window. ``cache``: the local study cache (default: the
    user's, :func:`viewer.pacs.locations.study_cache_dir`)."""

    def __init__(self, window, cache=None) -> None:
        super().__init__(window)
        self.w = window
        self._cache = cache
        self._cache_lock = threading.Lock()
        self.nodes, problems = load_nodes(window.settings)
        self._search: SearchPanel | None = None
        self._retrieve: RetrievePanel | None = None
        self._hide = False
        # The panels are made when the dock first shows: the window starts without them.
        self._box = QWidget()
        QVBoxLayout(self._box).setContentsMargins(0, 0, 0, 0)
        self.dock = window.add_dock("Search archive", self._box, "archive_dock",
                                    Qt.DockWidgetArea.LeftDockWidgetArea)
        self.dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        hide = getattr(window, "hide_patient_action", None)
        if hide is not None:
            hide.toggled.connect(self.set_hide_patient_details)
            self._hide = hide.isChecked()
        for p in problems:
            window.report_problem(p, show=False)

        self.actions = {}
        for key, text, slot, shortcut in (
                ("search", "Search &archive…", self.show_search, SEARCH_SHORTCUT),
                ("send", "Send to archi&ve…", self.show_send, None),
                ("deid", "Export &de-identified…", self.show_deid, None)):
            self.actions[key] = window.add_action("&File", text, slot, shortcut)
            _move_before(window, "&File", self.actions[key], "&Preferences…",
                         separator=key == "deid")
        self.actions["archives"] = window.add_action("&File", "Arc&hives…", self.show_archives)
        # Settings stay together: Archives…, Preferences…, then Quit.
        _move_before(window, "&File", self.actions["archives"], "&Preferences…")
        self.actions["audit"] = window.add_action("&Help", "&Audit log", self.show_audit)

    def _build(self) -> None:
        if self._search is not None:
            return
        w = self.w
        self._search = search = SearchPanel()
        self._retrieve = retrieve = RetrievePanel(lambda: self.cache)
        search.node_for = self.node
        retrieve.node_for = self.node
        retrieve.study_for = search.selected_study
        retrieve.series_for = search.selected_series
        retrieve.counts_for = search.series_counts
        retrieve.showing = self._showing
        search.problem.connect(w.report_problem)
        retrieve.problem.connect(w.report_problem)
        retrieve.open_requested.connect(w.open_folder)
        search.nodes.currentIndexChanged.connect(self._on_node_changed)
        box = QSplitter(Qt.Orientation.Vertical)
        box.addWidget(search)
        box.addWidget(retrieve)
        box.setStretchFactor(0, 3)
        box.setStretchFactor(1, 2)
        self._box.layout().addWidget(box)
        self._fill_nodes()
        search.set_hide_patient_details(self._hide)
        retrieve.hide_patient = self._hide

    @property
    def search(self) -> SearchPanel:
        self._build()
        return self._search

    @property
    def retrieve(self) -> RetrievePanel:
        self._build()
        return self._retrieve

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        if visible:
            self.retrieve.refresh()

    @property
    def cache(self):
        """The :class:`~viewer.pacs.cache.StudyCache`, made on first use (it imports pydicom,
        which the window's start-up leaves for later)."""
        with self._cache_lock:  # the first use may be a worker's (the cached list)
            if self._cache is None:
                from viewer.pacs.cache import StudyCache

                self._cache = StudyCache()
        return self._cache

    # -- archives ----------------------------------------------------------------------
    def _showing(self, folder) -> bool:
        """Whether the folder the window opened last is ``folder`` (its scan may still run:
        the catalog is not there yet)."""
        last = self.w.settings.value("last_folder", "")
        return bool(last) and Path(str(last)) == Path(folder)

    def node(self):
        """The archive chosen in the panel (the first one before the panel is made)."""
        i = self._search.nodes.currentIndex() if self._search is not None else 0
        return self.nodes[i] if 0 <= i < len(self.nodes) else None

    def _fill_nodes(self) -> None:
        current = self.search.nodes.currentText()
        self.search.nodes.blockSignals(True)
        self.search.nodes.clear()
        for n in self.nodes:
            self.search.nodes.addItem(n.name)
            self.search.nodes.setItemData(self.search.nodes.count() - 1, n.describe(),
                                          Qt.ItemDataRole.ToolTipRole)
        names = [n.name for n in self.nodes]
        self.search.nodes.setCurrentIndex(names.index(current) if current in names else 0)
        self.search.nodes.blockSignals(False)
        self._on_node_changed()

    def _on_node_changed(self, *_args) -> None:
        node = self.node()
        self.retrieve.set_methods(node is not None and node.kind == "dicomweb")

    def set_nodes(self, nodes) -> None:
        self.nodes = list(nodes)
        if self._search is not None:
            self._fill_nodes()

    def set_hide_patient_details(self, hide: bool) -> None:
        self._hide = bool(hide)
        if self._search is not None:
            self._search.set_hide_patient_details(hide)
            self._retrieve.set_hide_patient_details(hide)

    # -- commands ----------------------------------------------------------------------
    def show_search(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self.retrieve.refresh()
        if not self.nodes:
            self.search.status.setText("No archive yet: add one in File ▸ Archives…")
        self.search.name.setFocus()

    def show_archives(self) -> ArchivesDialog:
        dlg = ArchivesDialog(self.w.settings, self.w)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.set_nodes(dlg.nodes))
        self.dialog = dlg  # kept for tests
        dlg.open()
        return dlg

    def show_send(self):
        from viewer.gui.archive_send import SendDialog
        dlg = SendDialog(self.w, self.nodes)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.add_shown_series()
        self.dialog = dlg
        dlg.open()
        return dlg

    def show_deid(self):
        from viewer.gui.deid_dialog import DeidDialog

        dlg = DeidDialog(self.w, self.w.settings)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dlg
        dlg.open()
        return dlg

    def show_audit(self):
        from viewer.gui.audit_view import AuditLogDialog

        dlg = AuditLogDialog(self.w)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dlg
        dlg.open()
        return dlg


def install(window, cache=None) -> ArchiveController:
    """Add the archive actions and dock to ``window`` (a MainWindow); kept as
    ``window.archives``. ``cache``: a :class:`~viewer.pacs.cache.StudyCache` (default: the
    user's, made on first use)."""
    window.archives = ArchiveController(window, cache)
    return window.archives
