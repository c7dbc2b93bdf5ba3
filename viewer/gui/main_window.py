"""The main window: open a study, browse its series, read its images."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from viewer import __version__
from viewer.dicom.catalog import Catalog
from viewer.dicom.pixels import StackPixels
from viewer.display.window import CT_PRESETS
from viewer.gui.slice_view import ACQUIRED, SliceView
from viewer.gui.workers import LoadJob, ScanJob, ThumbnailJob
from viewer.paths import sample_study_dir

RESEARCH_NOTICE = "Research use — not a diagnosis."
_MAX_RECENT = 8


class MainWindow(QMainWindow):
    """Series browser on the left, slice view in the middle, progress in the status bar."""

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings("radviewer", "radviewer")
        self.setWindowTitle(f"radviewer {__version__}")
        self.resize(1280, 860)
        self.setAcceptDrops(True)
        self.catalog: Catalog | None = None
        self._request = 0
        self._scan: ScanJob | None = None
        self._load: LoadJob | None = None
        self._thumbs: ThumbnailJob | None = None
        self._pixels_by_uid: dict[str, StackPixels] = {}

        self.view = SliceView()
        self.welcome = self._make_welcome()
        self.center = QStackedWidget()
        self.center.addWidget(self.welcome)
        self.center.addWidget(self.view)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.center, 1)
        lay.addWidget(self.slider)
        self.setCentralWidget(body)

        self.series_list = QListWidget()
        self.series_list.setIconSize(QSize(72, 72))
        self.series_list.currentRowChanged.connect(self._on_series_row_changed)
        self.series_list.itemActivated.connect(
            lambda item: self._on_series_row_changed(self.series_list.row(item)))
        dock = QDockWidget("Series", self)
        dock.setObjectName("series_dock")
        dock.setWidget(self.series_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.skipped_label = QLabel()
        self.skipped_label.setTextFormat(Qt.TextFormat.RichText)
        self.skipped_label.linkActivated.connect(lambda _: self.show_skipped())
        self.cursor_label = QLabel()
        sb = self.statusBar()
        sb.addWidget(self.cursor_label, 1)
        sb.addPermanentWidget(self.skipped_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

        self.view.cursor_moved.connect(self.cursor_label.setText)
        self.view.slice_changed.connect(self._sync_slider)
        self.slider.valueChanged.connect(self.view.set_index)
        self._make_actions()
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # ------------------------------------------------------------------ widgets

    def _make_welcome(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.addStretch(1)
        title = QLabel("<h2>radviewer</h2><p>Open a study folder from a CD, a PACS export or a "
                       "USB stick: every series is found and shown correctly.<br>AI assist runs "
                       f"models on a series. {RESEARCH_NOTICE}</p>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)
        lay.addWidget(title)
        for text, slot in (("Open folder…", self.choose_folder),
                           ("Open sample study", self.open_sample)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            b.setMaximumWidth(260)
            lay.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)
        return w

    def _action(self, menu, text, slot, shortcut=None, checkable=False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            seq = shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut)
            a.setShortcut(seq)
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&Open folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self._action(f, "Open &sample study", self.open_sample, "Ctrl+Shift+O")
        self.recent_menu = f.addMenu("&Recent studies")
        self._fill_recent()
        self._action(f, "Show skipped files", self.show_skipped)
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        v = mb.addMenu("&View")
        self._action(v, "Next slice", lambda: self.view.step(1), "Down")
        self._action(v, "Previous slice", lambda: self.view.step(-1), "Up")
        self._action(v, "Next slice ", lambda: self.view.step(1), "Right")
        self._action(v, "Previous slice ", lambda: self.view.step(-1), "Left")
        self._action(v, "Forward 10 slices", lambda: self.view.step(10), "PgDown")
        self._action(v, "Back 10 slices", lambda: self.view.step(-10), "PgUp")
        self._action(v, "First slice", lambda: self.view.set_index(0), "Home")
        self._action(v, "Last slice", lambda: self.view.set_index(10**9), "End")
        v.addSeparator()
        self._action(v, "Zoom in", lambda: self.view.zoom(1.25), "+")
        self._action(v, "Zoom out", lambda: self.view.zoom(0.8), "-")
        self._action(v, "Fit to window", self.view.fit, "F")
        self._action(v, "1:1 pixels", self.view.one_to_one, "1")
        self.invert_action = self._action(v, "Invert", self.view.set_inverted, "I",
                                          checkable=True)
        v.addSeparator()
        plane = v.addMenu("Plane")
        for i, (name, label) in enumerate(((ACQUIRED, "Acquired"), ("axial", "Axial"),
                                           ("coronal", "Coronal"), ("sagittal", "Sagittal"))):
            self._action(plane, label, lambda _=False, n=name: self.view.set_plane(n),
                         f"Ctrl+{i + 1}")

        w = mb.addMenu("&Window")
        self._action(w, "Header window", lambda: self.view.apply_preset("header"), "0")
        self._action(w, "Auto (percentiles)", lambda: self.view.apply_preset("auto"), "A")
        w.addSeparator()
        for i, name in enumerate(CT_PRESETS):
            self._action(w, f"CT {name}", lambda _=False, n=name: self.view.apply_preset(n),
                         f"F{i + 2}")

        h = mb.addMenu("&Help")
        self._action(h, "Keyboard shortcuts", self.show_shortcuts,
                     QKeySequence.StandardKey.HelpContents)
        self._action(h, "About radviewer", self.show_about)

    # ------------------------------------------------------------------ opening

    def choose_folder(self) -> None:
        start = self.settings.value("last_folder", os.path.expanduser("~"))
        path = QFileDialog.getExistingDirectory(self, "Open study folder", str(start))
        if path:
            self.open_folder(path)

    def open_sample(self) -> None:
        self.open_folder(str(sample_study_dir()))

    def open_folder(self, path: str) -> None:
        """Scan ``path`` in the background; the series list fills in as series are found."""
        self.cancel_scan()
        self._stop_load()
        self._request += 1
        self.catalog = None
        self._pixels_by_uid.clear()
        self.series_list.clear()
        self.view.clear()
        self.skipped_label.setText("")
        self.settings.setValue("last_folder", path)
        self._add_recent(path)
        job = ScanJob(self._request, path, parent=self)
        job.progress.connect(self._on_scan_progress)
        job.catalog_updated.connect(self._on_catalog)
        job.finished.connect(self._on_scan_finished)
        job.failed.connect(self._on_job_failed)
        self._scan = job
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage(f"Scanning {path}…")
        job.start()

    def cancel_scan(self) -> None:
        if self._scan is not None:
            self._scan.cancel()

    def _on_scan_progress(self, request: int, done: int, total: int) -> None:
        if request != self._request:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_catalog(self, request: int, catalog: Catalog) -> None:
        if request != self._request:
            return
        self._show_catalog(catalog)

    def _on_scan_finished(self, request: int, catalog: Catalog) -> None:
        if request != self._request:
            return
        self._scan = None
        self.progress.hide()
        self.cancel_button.hide()
        self._show_catalog(catalog)
        n = len(catalog.stacks())
        msg = f"{n} series found" + (" (scan cancelled)" if catalog.cancelled else "")
        if n == 0:
            msg = f"No DICOM image found in {catalog.root}" + (
                " — see the skipped files" if catalog.skipped else "")
        self.statusBar().showMessage(msg, 8000)
        self._thumbs = ThumbnailJob(self._request, catalog.stacks(), parent=self)
        self._thumbs.thumbnail_ready.connect(self._on_thumbnail)
        self._thumbs.start()

    def _show_catalog(self, catalog: Catalog) -> None:
        current = self._current_uid()
        self.catalog = catalog
        self.series_list.blockSignals(True)
        self.series_list.clear()
        for i, st in enumerate(catalog.stacks()):
            h = st.first
            warn = ("\n⚠ " + "; ".join(st.warnings)) if st.warnings else ""
            title = st.label if st.label.startswith(h.modality) else f"{h.modality} {st.label}"
            item = QListWidgetItem(f"{i + 1}. {title}\n"
                                   f"{st.n_frames} images  {st.rows}x{st.columns}{warn}")
            item.setData(Qt.ItemDataRole.UserRole, st.uid)
            item.setToolTip("\n".join(st.warnings) or st.label)
            self.series_list.addItem(item)
        self.series_list.blockSignals(False)
        n = len(catalog.skipped)
        noun = "file" if n == 1 else "files"
        self.skipped_label.setText(f'<a href="skipped">{n} {noun} skipped</a>' if n else "")
        uids = [st.uid for st in catalog.stacks()]
        if current in uids:
            self.series_list.setCurrentRow(uids.index(current))
        elif uids:
            self.series_list.setCurrentRow(0)
            self._on_series_row_changed(0)

    def _current_uid(self) -> str | None:
        item = self.series_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _on_thumbnail(self, request: int, uid: str, img: np.ndarray) -> None:
        if request != self._request:
            return
        for i in range(self.series_list.count()):
            item = self.series_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == uid:
                item.setIcon(QIcon(QPixmap.fromImage(_qimage(img))))

    def _on_job_failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self.progress.hide()
        self.cancel_button.hide()
        self.statusBar().showMessage(message)

    # ------------------------------------------------------------------ series

    def _on_series_row_changed(self, row: int) -> None:
        if self.catalog is None or row < 0:
            return
        stacks = self.catalog.stacks()
        if row >= len(stacks):
            return
        self.show_stack(stacks[row])

    def show_stack(self, stack) -> None:
        """Show ``stack``; its slices decode in the background, the middle one first."""
        if self.view.pixels is not None and self.view.pixels.stack is stack:
            return  # Enter on the series already shown: keep its slice and window
        self._stop_load()
        px = self._pixels_by_uid.get(stack.uid)
        if px is None or px.stack is not stack:
            px = StackPixels(stack)
            self._pixels_by_uid[stack.uid] = px
        self.center.setCurrentWidget(self.view)
        self.view.set_stack(px)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self.view.n_slices - 1))
        self.slider.setValue(self.view.index)
        self.slider.blockSignals(False)
        self._request_load = self._request * 1000 + self.series_list.currentRow()
        job = LoadJob(self._request_load, px, self.view.index, parent=self)
        job.slice_loaded.connect(self._on_slice_loaded)
        job.failed.connect(lambda _r, msg: self.statusBar().showMessage(msg))
        self._load = job
        job.start()

    def _stop_load(self) -> None:
        if self._load is not None:
            self._load.cancel()
            self._load = None

    def _on_slice_loaded(self, request: int, k: int) -> None:
        if self._load is None or request != self._load.request:
            return  # a stale result from a series the user has left
        self.view.on_slice_loaded(k)

    def _sync_slider(self, k: int) -> None:
        if self.slider.maximum() != self.view.n_slices - 1:
            self.slider.setRange(0, max(0, self.view.n_slices - 1))
        self.slider.blockSignals(True)
        self.slider.setValue(k)
        self.slider.blockSignals(False)

    # ------------------------------------------------------------------ misc

    def show_skipped(self) -> None:
        if self.catalog is None or not self.catalog.skipped:
            return
        root = self.catalog.root
        lines = [f"{os.path.relpath(s.path, root)}: {s.reason}" for s in self.catalog.skipped]
        box = QMessageBox(self)
        box.setWindowTitle("Skipped files")
        box.setText(f"{len(lines)} files were not shown.")
        box.setDetailedText("\n".join(lines))
        box.setModal(False)
        box.show()

    def show_shortcuts(self) -> None:
        rows = [f"{a.shortcut().toString():<14} {a.text().strip()}" for a in self.actions()
                if not a.shortcut().isEmpty()]
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText("Mouse: wheel scrolls slices, Ctrl+wheel zooms, left-drag pans, "
                    "right-drag changes the window.")
        box.setDetailedText("\n".join(rows))
        box.show()

    def show_about(self) -> None:
        QMessageBox.about(self, "About radviewer",
                          f"radviewer {__version__}\n\n{RESEARCH_NOTICE}\n\n"
                          "Sample study: FNNDSC/data (Apache-2.0), Boston Children's Hospital.")

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.value("recent", [], type=list) or []:
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda _=False, p=path: self.open_folder(p))

    def _add_recent(self, path: str) -> None:
        recent = [p for p in (self.settings.value("recent", [], type=list) or []) if p != path]
        self.settings.setValue("recent", [path, *recent][:_MAX_RECENT])
        self._fill_recent()

    def dragEnterEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev):  # noqa: N802
        urls = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_folder(urls[0])

    def closeEvent(self, ev):  # noqa: N802
        self.settings.setValue("window/geometry", self.saveGeometry())
        for job in (self._scan, self._load, self._thumbs):
            if job is not None:
                job.cancel()
                job.wait(2.0)
        super().closeEvent(ev)


def _qimage(img: np.ndarray) -> QImage:
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if img.ndim == 3:
        q = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        q = QImage(img.data, w, h, w, QImage.Format.Format_Grayscale8)
    return q.copy()  # own the bytes: the numpy array goes away
