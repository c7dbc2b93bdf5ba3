"""The main window's helpers: preferences, patient-detail hiding, DICOM tags, the Problems
panel, keyboard shortcuts and About."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTime
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from viewer.gui.preferences import KEY_MODEL_FOLDER, Preferences, PreferencesDialog
from viewer.gui.tag_browser import caption_for
from viewer.gui.workers import CallJob

MOUSE_HELP = (
    ("Wheel", "next / previous slice"),
    ("Ctrl+wheel", "zoom"),
    ("Left-drag", "pan (Pan tool), draw (Ruler, Ellipse, Rectangle, Freehand, Arrow tools; "
                  "Cobb: two drags)"),
    ("Left-click", "set the crosshair (layouts of several viewports); Angle: 3 clicks; "
                   "Polygon: a vertex each, double-click or Enter closes it"),
    ("Right-drag", "window: left/right width, up/down level"),
    ("Right-click on a measurement", "remove it"),
    ("Double-click a viewport", "maximise it; again: back to the layout"),
    ("Drag a series from the list onto a viewport", "show it there"),
)


class MiscMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: preferences, tags, problems, help."""

    def set_hide_patient_details(self, hide: bool) -> None:
        self.settings.setValue("view/hide_patient_details", bool(hide))
        for v in self.all_views:
            v.set_show_patient_details(not hide)
        self.series_list.set_hide_patient_details(hide)

    def toggle_tags(self) -> None:
        self.tags_dock.setVisible(not self.tags_dock.isVisible())
        if self.tags_dock.isVisible():
            self.tags.search.setFocus()

    def _update_tags(self) -> None:
        if self.tags_dock.isVisible():
            path, caption = caption_for(self.view)
            self.tags.show_file(path, caption)

    def report_problem(self, message: str, show: bool = True) -> None:
        """Show an error in the status bar and the non-modal Problems panel (``show=False``:
        only listed there, for warnings the series list already marks)."""
        stamp = QTime.currentTime().toString("HH:mm:ss")
        self.problems.addItem(f"{stamp}  {message}")
        self.problems.scrollToBottom()
        n = self.problems.count()
        self.problems_label.setText(f'<a href="problems">{n} problem{"s" if n > 1 else ""}</a>')
        if show:
            self.problems_dock.show()
            self.statusBar().showMessage(message, 15000)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, action) for every action with a shortcut, then the mouse gestures."""
        rows = [(a.shortcut().toString(QKeySequence.SequenceFormat.NativeText),
                 a.text().replace("&", "").strip())
                for a in self.actions() if not a.shortcut().isEmpty()]
        return rows + [(k, v) for k, v in MOUSE_HELP]

    def show_shortcuts(self) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("Keyboard shortcuts")
        rows = self.shortcut_rows()
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (keys, text) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(keys))
            table.setItem(i, 1, QTableWidgetItem(text))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dlg.close)
        lay = QVBoxLayout(dlg)
        lay.addWidget(table)
        lay.addWidget(buttons)
        dlg.resize(520, 640)
        dlg.setModal(False)
        dlg.show()
        self._shortcuts_dialog = dlg

    def show_about(self) -> None:
        """Version, research-use notice, and the licence and credit of every model and data
        set (viewer/about.py)."""
        from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

        from viewer.about import about_html

        dlg = QDialog(self)
        dlg.setWindowTitle("About radviewer")
        text = QTextBrowser()
        text.setOpenExternalLinks(True)
        # Model folders may sit on slow or hung mounts: found off the GUI thread.
        text.setHtml(about_html(loading=True))
        from viewer.about import model_credits

        job = CallJob(0, model_credits)
        job.finished.connect(self._on_about_credits)
        job.start()
        self._about_text = text
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dlg.reject)
        lay = QVBoxLayout(dlg)
        lay.addWidget(text)
        lay.addWidget(buttons)
        dlg.resize(640, 520)
        self._about = dlg  # kept for tests
        dlg.open()

    def _on_about_credits(self, _request: int, credits) -> None:
        from viewer.about import about_html

        about = getattr(self, "_about", None)
        if about is not None and about.isVisible():
            self._about_text.setHtml(about_html(credits))

    def show_preferences(self) -> None:
        """File ▸ Preferences: the stored defaults; OK stores them and applies them at once."""
        dlg = PreferencesDialog(Preferences.load(self.settings), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._on_preferences_accepted(dlg.preferences()))
        self._preferences_dialog = dlg  # kept for tests
        dlg.open()

    def _on_preferences_accepted(self, prefs: Preferences) -> None:
        folder_before = str(self.settings.value(KEY_MODEL_FOLDER, "") or "")
        prefs.save(self.settings)
        self.apply_preferences(prefs)
        if prefs.model_folder and prefs.model_folder != folder_before:
            self._report_model_folder(prefs.model_folder)

    def apply_preferences(self, prefs: Preferences) -> None:
        """Use ``prefs`` from now on: default windows for the series shown next (the one on
        screen keeps its window), the AI overlay style now, the AI threads at the next
        Analyze. The model folder and the export choice are read where they are used."""
        self.preferences = prefs
        for v in self.all_views:
            v.default_window_ct = prefs.ct_window
            v.default_window_other = prefs.other_window
            v.set_scroll_direction(prefs.scroll_direction)
        if self.view.pixels is not None:
            self._sync_slider(self.view.index)
        self.result_panel.opacity.setValue(prefs.overlay_opacity)
        self.result_panel.outline.setChecked(prefs.overlay_outline)
