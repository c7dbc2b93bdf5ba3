"""The main window's way in: the welcome view, recent studies, opening a folder (scan in the
background), the series browser and loading the chosen series."""

from __future__ import annotations

import os
import threading

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer import __version__
from viewer.audit import record
from viewer.dicom import prefetch
from viewer.dicom.catalog import Catalog
from viewer.gui import memory
from viewer.gui.workers import ScanJob, SegLoadJob, ThumbnailJob
from viewer.logs import remember_catalog, remember_root
from viewer.paths import sample_study_dir


def record_opens(catalog: Catalog) -> None:
    """One audit entry ("open") per study of a scanned folder (the current or a prior)."""
    for study in (st for p in catalog.patients for st in p.studies):
        record("open", study_uid=study.uid, series=len(study.series),
               outcome="cancelled" if catalog.cancelled else "ok")


RESEARCH_NOTICE = "Research use — not a diagnosis."
_MAX_RECENT = 8


class OpeningMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: opening studies and series."""

    # ------------------------------------------------------------------ widgets

    def _make_welcome(self) -> QWidget:
        """First view: what radviewer does in two lines, the two ways in, recent studies."""
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.addStretch(1)
        title = QLabel(f"<h2>radviewer {__version__}</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        self.welcome_text = QLabel(
            "Open a study folder from a CD, a PACS export or a USB stick to browse its series "
            "and scroll, window, zoom and measure.<br>Run AI models on a series and judge "
            f"their results as overlays you can export. <b>{RESEARCH_NOTICE}</b>")
        self.welcome_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome_text.setWordWrap(True)
        lay.addWidget(self.welcome_text)
        lay.addSpacing(12)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for text, slot in (("&Open folder…", self.choose_folder),
                           ("Open &sample study", self.open_sample)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            b.setMinimumWidth(180)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        lay.addSpacing(16)
        recent_title = QLabel("&Recent studies")
        recent_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(recent_title)
        self.recent_list = QListWidget()
        self.recent_list.setMinimumWidth(600)
        self.recent_list.setMaximumWidth(760)
        self.recent_list.setFixedHeight(170)
        self.recent_list.itemActivated.connect(self._open_recent_item)
        self.recent_list.itemClicked.connect(self._open_recent_item)
        recent_title.setBuddy(self.recent_list)
        lay.addWidget(self.recent_list, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)
        return w

    def _open_recent_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path and os.path.isdir(path):
            self.open_folder(path)
        elif path:
            self.statusBar().showMessage(f"{path} is no longer there (moved, or a removed "
                                         "disc or stick?)", 8000)

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
        remember_root(path)  # folders are named after patients: hidden in the log from now on
        had_study = self._request > 0  # a folder was opened before: its memory to give back
        self.cancel_scan()
        self._stop_load()
        self._request += 1
        self.catalog = None
        self.toggle_cine(False)
        self._pixels_by_uid.clear()
        self.measurements.clear()
        self.results.clear()
        self._segs_tried.clear()
        self.cancel_analysis()
        self.series_list.clear()
        for v in self.all_views:
            v.clear()
        self.vp_model.crosshair = None
        self.prior_catalog = None  # a new study: no prior beside it until asked
        if self._prior_scan is not None:
            self._prior_scan.cancel()
            self._prior_scan = None
        self.__dict__.pop("_planes_cache", None)
        if had_study:  # the last study's volumes go back to the system (a gc pass: ~25 ms,
            memory.give_back()  # which the first folder's start-up need not wait for)
        self.skipped_label.setText("")
        self.settings.setValue("last_folder", path)
        self._add_recent(path)
        pre = prefetch.take_ready(path)  # the launch's child has scanned it already
        if pre is not None:  # shown now, in the window's first paint
            pre.install()
            self._on_scan_finished(self._request, pre.catalog)
            return
        job = ScanJob(self._request, path)
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
        record_opens(catalog)
        if any(v.pixels is None for v in self.views) and self.view.pixels is not None:
            self._syncing = True  # series found after the first one fill empty viewports
            try:
                self._fill_empty()
            finally:
                self._syncing = False
            self._update_titles()
            self._update_references()
        n = len(catalog.stacks())
        msg = f"{n} series found" + (" (scan cancelled)" if catalog.cancelled else "")
        if catalog.multiple_patients_warning:
            msg = f"⚠ {catalog.multiple_patients_warning} ({msg})"
        if n == 0:
            from viewer.dicom.messages import found_without_images

            found = found_without_images(o.kind for o in catalog.objects())
            msg = (f"In {catalog.root}: {found}" if found
                   else f"No DICOM image found in {catalog.root}") + (
                " — see the skipped files" if catalog.skipped else "")
        self.statusBar().showMessage(msg, 8000)
        for st in catalog.stacks():  # the series list shows them short; here in full
            for w in st.warnings:
                self.report_problem(f"{st.first.modality} {st.label}: {w}", show=False)
        self._thumbs = ThumbnailJob(self._request, catalog.stacks())
        self._thumbs.thumbnail_ready.connect(self._on_thumbnail)
        self._thumbs.start()

    def _show_catalog(self, catalog: Catalog) -> None:
        current = self._current_uid()
        self.catalog = catalog
        remember_catalog(catalog)  # these patients' identifiers never reach the log
        self.series_list.set_catalog(catalog)
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
        return self.series_list.current_uid()

    def _on_thumbnail(self, request: int, uid: str, img: np.ndarray) -> None:
        if request != self._request:
            return
        self.series_list.set_icon(uid, QIcon(QPixmap.fromImage(_qimage(img))))

    def _on_job_failed(self, request: int, message: str) -> None:
        if request != self._request:
            return
        self.progress.hide()
        self.cancel_button.hide()
        self.report_problem(message)

    # ------------------------------------------------------------------ series

    def _on_series_row_changed(self, row: int) -> None:
        if self.catalog is None or row < 0:
            return
        stacks = self.catalog.stacks()
        if row >= len(stacks):
            return
        self.show_stack(stacks[row])

    def show_stack(self, stack) -> None:
        """Show ``stack`` in the active viewport (all three in 1×3); its slices decode in the
        background, the middle one first."""
        v = self.view
        if v.pixels is not None and v.pixels.stack is stack:
            return  # Enter on the series already shown: keep its slice and window
        self.toggle_cine(False)
        self.center.setCurrentWidget(self._views_box)
        self.slider.show()
        i = self.vp_model.active
        if self.layout_mode == "1x3":
            self._put(0, stack)
            self.vp_model.active = 0
            self.set_layout("1x3")  # falls back to single when the stack cannot reformat
        else:
            self._syncing = True
            try:
                self._put(i, stack)
                self._fill_empty()  # a study opened in 2x2 fills every viewport
            finally:
                self._syncing = False
            self._stop_unused_loads()
            self.set_active_view(i)
            if self.vp_model.sync_position:  # joins the position read beside it
                self._align_with_earlier(i, self.all_views[i], anywhere=True)
            self._update_titles()
            self._update_references()
        self._show_result_of(stack.uid)
        self._load_linked_seg(stack)
        self.volume_nav.sync()

    def _load_linked_seg(self, stack) -> None:
        """A DICOM SEG in the folder that references ``stack`` shows as its overlay (read in
        the background; an AI result of this session takes precedence)."""
        segs = [o for o in stack.linked_objects if o.kind == "SEG"]
        if not segs or stack.uid in self.results or stack.uid in self._segs_tried:
            return
        self._segs_tried.add(stack.uid)
        job = SegLoadJob(self._request, segs[0].header.path, stack)
        job.finished.connect(self._on_seg_loaded)
        job.failed.connect(self._on_background_failed)
        self._seg_jobs.append(job)
        job.start()

    def _on_background_failed(self, _request: int, message: str) -> None:
        # A bound method, not a lambda: Qt drops the connection when the window goes.
        self.report_problem(message)

    def _on_seg_loaded(self, request: int, result) -> None:
        self._seg_jobs = [j for j in self._seg_jobs if j._thread is None
                          or j._thread.is_alive()]
        if request != self._request or result.stack_uid in self.results:
            return  # another folder was opened since, or an AI result came first
        self.results[result.stack_uid] = result
        if any(v.pixels is not None and v.pixels.stack.uid == result.stack_uid
               for v in self.visible_views()):
            self._show_result_of(result.stack_uid)
        self.statusBar().showMessage(f"Showing {result.model_name} over {result.stack_label}",
                                     8000)

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

    def _fill_recent(self) -> None:
        """Recent studies, newest first, in File ▸ Recent studies and on the welcome view.
        Folders that are gone (a removed stick) are greyed once a background check has
        looked: a stat on a hung network mount must not freeze the window."""
        self.recent_menu.clear()
        self.recent_list.clear()
        paths = [str(p) for p in (self.settings.value("recent", [], type=list) or [])]
        for path in paths:
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda _=False, p=path: self.open_folder(p))
            name = os.path.basename(path.rstrip(os.sep)) or path
            item = QListWidgetItem(f"{name}    {os.path.dirname(path.rstrip(os.sep))}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent_list.addItem(item)
        if not paths:
            item = QListWidgetItem("No recent studies yet: open a folder or the sample study.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent_list.addItem(item)
        self.recent_menu.setEnabled(bool(paths))
        if paths:
            threading.Thread(target=self._check_recent, args=(paths,), name="recent-check",
                             daemon=True).start()

    def _check_recent(self, paths: list[str]) -> None:
        """(background thread) Which recent folders are gone."""
        missing = [p for p in paths if not os.path.isdir(p)]
        try:
            self._recent_checked.emit(missing)
        except RuntimeError:  # the window was closed meanwhile
            pass

    def _grey_missing_recent(self, missing: list[str]) -> None:
        for i in range(self.recent_list.count()):
            item = self.recent_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) in missing:
                item.setText(item.text() + "    (not found)")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)

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

def _qimage(img: np.ndarray) -> QImage:
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if img.ndim == 3:
        q = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        q = QImage(img.data, w, h, w, QImage.Format.Format_Grayscale8)
    return q.copy()  # own the bytes: the numpy array goes away
