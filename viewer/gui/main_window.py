"""The main window: open a study, browse its series, read its images."""

from __future__ import annotations

import os
import threading

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTime, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from viewer import __version__
from viewer.dicom.catalog import Catalog
from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import PLANES
from viewer.display.measure import MeasurementStore
from viewer.display.window import CT_PRESETS
from viewer.export.compose import label_lut
from viewer.gui.export_actions import ExportController
from viewer.gui.overlay import ResultPanel
from viewer.gui.preferences import KEY_MODEL_FOLDER, Preferences, PreferencesDialog
from viewer.gui.series_browser import SeriesBrowser
from viewer.gui.slice_view import ACQUIRED, SliceView
from viewer.gui.tag_browser import TagBrowser, caption_for
from viewer.gui.volume_nav import VolumeNavigator
from viewer.gui.workers import (
    AnalyzeJob,
    CallJob,
    LoadJob,
    ScanJob,
    SegLoadJob,
    ThumbnailJob,
    stop_all,
)
from viewer.logs import remember_catalog, remember_root
from viewer.paths import sample_study_dir

RESEARCH_NOTICE = "Research use — not a diagnosis."
_MAX_RECENT = 8
MOUSE_HELP = (
    ("Wheel", "next / previous slice"),
    ("Ctrl+wheel", "zoom"),
    ("Left-drag", "pan (Pan tool), draw (Ruler, Ellipse, Rectangle tools)"),
    ("Left-click", "set the crosshair (1×3 layout)"),
    ("Right-drag", "window: left/right width, up/down level"),
    ("Right-click on a measurement", "remove it"),
)


class MainWindow(QMainWindow):
    """Series browser on the left, slice view in the middle, progress in the status bar."""

    _recent_checked = Signal(list)  # recent folders found missing (from a background check)

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
        self.measurements = MeasurementStore()
        self._segs_tried: set[str] = set()  # stacks whose linked SEG was loaded (or failed)
        self._seg_jobs: list = []
        self.layout_mode = "single"  # or "1x3": axial, coronal, sagittal side by side
        self._active = 0
        self._syncing = False

        # Three views; the single layout shows the first, 1x3 shows all three planes.
        self.views = [SliceView() for _ in range(3)]
        views_box = QWidget()
        views_lay = QHBoxLayout(views_box)
        views_lay.setContentsMargins(0, 0, 0, 0)
        views_lay.setSpacing(2)
        for i, v in enumerate(self.views):
            v.measurements = self.measurements
            views_lay.addWidget(v, 1)
            v.setVisible(i == 0)
        self.welcome = self._make_welcome()
        self._recent_checked.connect(self._grey_missing_recent)
        self.center = QStackedWidget()
        self.center.addWidget(self.welcome)
        self.center.addWidget(views_box)
        self._views_box = views_box
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.center, 1)
        lay.addWidget(self.slider)
        self.slider.hide()  # shown with the first series (not on the welcome view)
        self.setCentralWidget(body)

        self.series_list = SeriesBrowser()
        self.series_list.series_selected.connect(self._on_series_row_changed)
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
        self.problems_label = QLabel()
        self.problems_label.setTextFormat(Qt.TextFormat.RichText)
        self.problems_label.linkActivated.connect(lambda _: self.problems_dock.show())
        sb = self.statusBar()
        sb.addWidget(self.cursor_label, 1)
        sb.addPermanentWidget(self.problems_label)
        sb.addPermanentWidget(self.skipped_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

        self.slider.valueChanged.connect(lambda pos: self.view.set_position(pos))
        for v in self.views:
            self._wire_view(v)

        self.tags = TagBrowser()
        self.tags_dock = QDockWidget("DICOM tags", self)
        self.tags_dock.setObjectName("tags_dock")
        self.tags_dock.setWidget(self.tags)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.tags_dock)
        self.tags_dock.hide()
        self.tags_dock.visibilityChanged.connect(lambda vis: vis and self._update_tags())

        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems_dock = QDockWidget("Problems", self)
        self.problems_dock.setObjectName("problems_dock")
        self.problems_dock.setWidget(self.problems)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.problems_dock)
        self.problems_dock.hide()

        self.results: dict[str, object] = {}  # stack uid -> latest AnalysisResult
        self._runner = None  # created on first Analyze: onnxruntime loads lazily
        self._runner_threads = 0  # the ai_threads preference the runner was made with
        self._analyze: AnalyzeJob | None = None
        self.result_panel = ResultPanel(settings=self.settings)
        self.result_panel.style_changed.connect(self._apply_overlay)
        self.result_panel.clear_requested.connect(self.clear_result)
        self.result_panel.jump_to_label.connect(self.jump_to_label)
        self.results_dock = QDockWidget("AI result", self)
        self.results_dock.setObjectName("results_dock")
        self.results_dock.setWidget(self.result_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.results_dock)
        self.results_dock.hide()
        self.analyze_progress = QProgressBar()
        self.analyze_progress.setMaximumWidth(200)
        self.analyze_progress.hide()
        self.analyze_cancel = QPushButton("Cancel analysis")
        self.analyze_cancel.hide()
        self.analyze_cancel.clicked.connect(self.cancel_analysis)
        self.statusBar().addPermanentWidget(self.analyze_progress)
        self.statusBar().addPermanentWidget(self.analyze_cancel)
        self.export_progress = QProgressBar()
        self.export_progress.setMaximumWidth(200)
        self.export_progress.hide()
        self.export_cancel = QPushButton("Cancel export")
        self.export_cancel.hide()
        self.statusBar().addPermanentWidget(self.export_progress)
        self.statusBar().addPermanentWidget(self.export_cancel)
        self.exporter = ExportController(self)
        self.export_cancel.clicked.connect(self.exporter.cancel_series)

        self.cine = QTimer(self)
        self.cine.timeout.connect(self._cine_tick)
        self.volume_nav = VolumeNavigator(self)  # 4-D series: volume keys, box, cine
        self._make_actions()
        self._make_toolbar()
        self.apply_preferences(Preferences.load(self.settings))
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.hide_patient_action.setChecked(
            self.settings.value("view/hide_patient_details", False, type=bool))
        self.set_hide_patient_details(self.hide_patient_action.isChecked())
        self.set_layout(str(self.settings.value("view/layout", "single")))

    # ------------------------------------------------------------------ views

    @property
    def view(self) -> SliceView:
        """The active view: keyboard, menu and slider act on it."""
        return self.views[self._active]

    def visible_views(self) -> list[SliceView]:
        return self.views if self.layout_mode == "1x3" else self.views[:1]

    def _wire_view(self, v: SliceView) -> None:
        v.cursor_moved.connect(self.cursor_label.setText)
        v.slice_changed.connect(lambda k, v=v: self._on_view_slice_changed(v, k))
        v.window_changed.connect(lambda c, w, v=v: self._on_view_window_changed(v))
        v.crosshair_picked.connect(self.set_crosshair)
        v.graphics.viewport().installEventFilter(self)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        # A press or wheel in a view makes it the active one.
        if ev.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.Wheel):
            for i, v in enumerate(self.views):
                if obj is v.graphics.viewport() and i != self._active:
                    self.set_active_view(i)
        return False

    def set_active_view(self, i: int) -> None:
        self._active = i
        for j, v in enumerate(self.views):
            v.setStyleSheet("SliceView { border: 1px solid #3c6eaa; }"
                            if j == i and self.layout_mode == "1x3" else "")
        self._sync_slider(self.view.index)
        self._update_tags()

    def set_layout(self, mode: str) -> None:
        """"single" (one view, plane switch) or "1x3" (axial, coronal, sagittal)."""
        px = self.views[0].pixels
        if mode == "1x3" and px is not None and not self.views[0].has_reformat:
            self.statusBar().showMessage(
                "The 1×3 layout needs a stack of several slices with position information; "
                "this series has none.", 8000)
            mode = "single"
        self.layout_mode = mode
        self.layout_action.setChecked(mode == "1x3")
        self.settings.setValue("view/layout", mode)
        for i, v in enumerate(self.views):
            v.setVisible(i == 0 or mode == "1x3")
            v.show_crosshair = mode == "1x3"
        if px is not None:
            self._show_in_views(px)
            self._apply_overlay()  # the AI labels show in every plane
        self.set_active_view(0)

    def _show_in_views(self, px: StackPixels) -> None:
        if self.layout_mode == "1x3":
            first = self.views[0]
            window, inverted = first.window, first.inverted
            for v, plane in zip(self.views, PLANES, strict=True):
                if v.pixels is not px:
                    v.set_stack(px)
                v.set_plane(plane)
                if window is not None:  # the three planes share one window
                    v.set_window(window)
                v.set_inverted(inverted)
            r = self.views[0]._reformat
            self.set_crosshair(tuple(float(n // 2) for n in r.shape))
        else:
            if self.views[0].pixels is not px:
                self.views[0].set_stack(px)
            self.views[0].show_crosshair = False
            self.views[0].set_crosshair(None)

    def set_crosshair(self, spl) -> None:
        """Move every shown plane through canonical voxel ``spl`` (1x3 layout)."""
        if self._syncing:
            return
        self._syncing = True
        try:
            for v in self.visible_views():
                v.set_crosshair(spl)
        finally:
            self._syncing = False
        self._update_tags()

    def _on_view_slice_changed(self, v: SliceView, k: int) -> None:
        if v is self.view:
            self._sync_slider(k)
            self._show_slice_scores()
        if self.layout_mode == "1x3" and not self._syncing:
            spl = v.crosshair_on_this_slice()
            if spl is not None:
                self.set_crosshair(spl)
        self._update_tags()

    def _on_view_window_changed(self, v: SliceView) -> None:
        if self.layout_mode != "1x3" or self._syncing or v.window is None:
            return
        self._syncing = True
        try:
            for other in self.visible_views():
                if other is not v and other.pixels is v.pixels:
                    other.set_window(v.window)
        finally:
            self._syncing = False

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
        ex = f.addMenu("&Export")
        self.export_action = self._action(ex, "Export view as &image…",
                                          lambda: self.exporter.export_view(), "Ctrl+Shift+S")
        self._action(ex, "&Copy view to clipboard", lambda: self.exporter.copy_view(),
                     "Ctrl+Shift+C")
        self._action(ex, "Export &slices as images…", lambda: self.exporter.export_series())
        ex.addSeparator()
        self._action(ex, "Save view as DICOM secondary capture…",
                     lambda: self.exporter.export_capture())
        self._action(ex, "Save AI segmentation as DICOM &SEG…",
                     lambda: self.exporter.export_seg())
        f.addSeparator()
        prefs_key = QKeySequence(QKeySequence.StandardKey.Preferences)  # none on Linux
        self._action(f, "&Preferences…", self.show_preferences,
                     prefs_key if not prefs_key.isEmpty() else "Ctrl+,")
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        v = mb.addMenu("&View")
        for text, delta, key in (("Next slice", 1, "Down"), ("Previous slice", -1, "Up"),
                                 ("Next slice ", 1, "Right"), ("Previous slice ", -1, "Left"),
                                 ("Forward 10 slices", 10, "PgDown"),
                                 ("Back 10 slices", -10, "PgUp")):
            self._action(v, text, lambda _=False, d=delta: self.view.step(d), key)
        self._action(v, "First slice", lambda: self.view.set_position(0), "Home")
        self._action(v, "Last slice", lambda: self.view.set_position(10**9), "End")
        self.play_action = self._action(v, "Play / pause cine", self.toggle_cine, "Space",
                                        checkable=True)
        self._action(v, "Cine faster", lambda: self.fps.stepBy(2), "]")
        self._action(v, "Cine slower", lambda: self.fps.stepBy(-2), "[")
        self._action(v, "Next volume", lambda: self.volume_nav.step(1), "Alt+Right")
        self._action(v, "Previous volume", lambda: self.volume_nav.step(-1), "Alt+Left")
        self.volume_cine_action = self._action(
            v, "Cine over volumes (at this slice)", self.volume_nav.set_cine_over_volumes,
            "Shift+Space", checkable=True)
        v.addSeparator()
        self._action(v, "Zoom in", lambda: self.view.zoom(1.25), "+")
        self._action(v, "Zoom out", lambda: self.view.zoom(0.8), "-")
        self._action(v, "Fit to window", lambda: self.view.fit(), "F")
        self._action(v, "1:1 pixels", lambda: self.view.one_to_one(), "1")
        self._action(v, "Rotate 90° clockwise", lambda: self.view.rotate(True), "Ctrl+R")
        self._action(v, "Rotate 90° counter-clockwise", lambda: self.view.rotate(False),
                     "Ctrl+Shift+R")
        self._action(v, "Flip horizontal", lambda: self.view.flip_horizontal(), "H")
        self._action(v, "Flip vertical", lambda: self.view.flip_vertical(), "V")
        self.invert_action = self._action(v, "Invert", self.set_inverted, "I", checkable=True)
        self._action(v, "Reset view", self.reset_view, "R")
        v.addSeparator()
        plane = v.addMenu("Plane")
        for i, (name, label) in enumerate(((ACQUIRED, "Acquired"), ("axial", "Axial"),
                                           ("coronal", "Coronal"), ("sagittal", "Sagittal"))):
            self._action(plane, label, lambda _=False, n=name: self.set_plane(n),
                         f"Ctrl+{i + 1}")
        self.layout_action = self._action(
            v, "1×3 layout (axial, coronal, sagittal)",
            lambda on: self.set_layout("1x3" if on else "single"), "L", checkable=True)
        v.addSeparator()
        self.hide_patient_action = self._action(v, "Hide patient details",
                                                self.set_hide_patient_details, "Ctrl+H",
                                                checkable=True)
        self._action(v, "DICOM tags", self.toggle_tags, "Ctrl+T")
        self._action(v, "Problems", self.problems_dock.show, "Ctrl+E")

        m = mb.addMenu("&Measure")
        self.tool_group = QActionGroup(self)
        self.tool_actions = {}
        for tool, label, key in (("pan", "Pan / crosshair", "Esc"), ("ruler", "Ruler", "M"),
                                 ("ellipse", "Ellipse ROI", "E"), ("rect", "Rectangle ROI", "B")):
            a = self._action(m, label, lambda _=False, t=tool: self.set_tool(t), key,
                             checkable=True)
            self.tool_group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions["pan"].setChecked(True)
        m.addSeparator()
        self._action(m, "Delete selected measurement", lambda: self.view.delete_selected(),
                     "Delete")
        self._action(m, "Delete all measurements on this slice",
                     lambda: self.view.delete_all_on_slice(), "Shift+Delete")

        ai = mb.addMenu("&AI")
        self.analyze_action = self._action(ai, "&Analyze…", self.choose_model, "Ctrl+Shift+A")
        self._action(ai, "Show AI result", self.results_dock.show)
        self._action(ai, "Clear AI result", self.clear_result)
        ai.addSeparator()
        self._action(ai, "Model folder…", self.choose_model_folder)

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

    def _make_toolbar(self) -> None:
        tb = QToolBar("Tools", self)
        tb.setObjectName("tools_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in self.tool_actions.values():
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.play_action)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Cine frame rate ([ and ] change it)")
        self.fps.setValue(self.settings.value("cine/fps", 10, type=int))
        self.fps.valueChanged.connect(self._on_fps_changed)
        tb.addWidget(self.fps)
        self.volume_nav.toolbar_action = tb.addWidget(self.volume_nav.widget)
        self.volume_nav.sync()  # hidden until a 4-D series shows
        tb.addSeparator()
        tb.addAction(self.layout_action)
        tb.addAction(self.invert_action)
        tb.addSeparator()
        tb.addAction(self.analyze_action)
        tb.addAction(self.export_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    # ------------------------------------------------------------------ view commands

    def set_tool(self, tool: str) -> None:
        for v in self.views:
            v.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def set_plane(self, plane: str) -> None:
        if self.layout_mode == "1x3":
            self.set_layout("single")
        self.view.set_plane(plane)
        self._sync_slider(self.view.index)

    def set_inverted(self, on: bool) -> None:
        for v in self.visible_views():
            v.set_inverted(on)

    def reset_view(self) -> None:
        self.invert_action.setChecked(False)
        for v in self.visible_views():
            v.reset()

    def set_hide_patient_details(self, hide: bool) -> None:
        self.settings.setValue("view/hide_patient_details", bool(hide))
        for v in self.views:
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

    def toggle_cine(self, on: bool) -> None:
        """Play (True) or pause: the active view loops through its slices at the set rate."""
        if on and self.view.pixels is not None and self.view.n_slices > 1:
            self.volume_nav.stop_cine()
            self.cine.start(int(1000 / self.fps.value()))
        else:
            self.cine.stop()
        self.play_action.setChecked(self.cine.isActive())

    def _on_fps_changed(self, fps: int) -> None:
        self.settings.setValue("cine/fps", fps)
        self.volume_nav.set_rate(fps)
        if self.cine.isActive():
            self.cine.setInterval(int(1000 / fps))

    def _cine_tick(self) -> None:
        v = self.view
        if v.pixels is None or v.n_slices < 2:
            self.toggle_cine(False)
            return
        nxt = v.display_position((v.display_position() + 1) % v.n_slices)  # shown order
        if v.plane == ACQUIRED and not v.pixels.is_loaded(nxt) and nxt not in v.pixels.failed:
            return  # wait for the decoder rather than flash "loading"
        v.set_index(nxt)

    # ------------------------------------------------------------------ AI

    @property
    def runner(self):
        """The onnxruntime runner, made on first use and again when the AI threads preference
        has changed since (not while an analysis runs on it: then at the next one)."""
        threads = self.preferences.ai_threads
        if self._runner is not None and threads != self._runner_threads and self._analyze is None:
            self._runner = None
        if self._runner is None:
            from viewer.ai.runner import Runner

            self._runner = Runner(threads=threads or None)  # 0: one thread per core
            self._runner_threads = threads
        return self._runner

    def choose_model(self) -> None:
        """The model picker: applicable models first, the others with the reason. It opens at
        once; the models are found in the background (folders may be slow, new weights are
        hashed) and listed when that is done."""
        from viewer.gui.model_picker import ModelPicker, discover_in_background

        px = self.views[0].pixels
        if px is None:
            self.statusBar().showMessage("Open a series first, then Analyze.", 6000)
            return
        picker = ModelPicker(None, px.stack.label, self, stack=px.stack)
        discover_in_background(self.model_folders(), True, picker.set_found)
        if picker.exec() and picker.chosen is not None:
            self.analyze(picker.chosen)
        picker.deleteLater()

    def model_folders(self) -> list[str]:
        """The user's model folder (AI ▸ Model folder…), searched after the bundled models;
        ``RADVIEWER_MODELS`` adds more."""
        folder = str(self.settings.value(KEY_MODEL_FOLDER, "") or "")
        return [folder] if folder else []

    def choose_model_folder(self) -> None:
        current = str(self.settings.value(KEY_MODEL_FOLDER, "") or "")
        path = QFileDialog.getExistingDirectory(
            self, "Folder with your models (one sub-folder with manifest.json per model)",
            current or os.path.expanduser("~"))
        if not path:
            return
        self.settings.setValue(KEY_MODEL_FOLDER, path)
        self._report_model_folder(path)

    def _report_model_folder(self, path: str) -> None:
        """How many models the user's folder ``path`` holds, in the status bar (counted in the
        background: the folder may be slow)."""
        from viewer.gui.model_picker import discover_in_background

        self._model_folder_counted = path
        discover_in_background([path], False, self._on_model_folder_counted)

    def _on_model_folder_counted(self, _request: int, found) -> None:
        entries, errors = found
        n = sum(e.origin.startswith("user") for e in entries)
        for e in errors:
            self.report_problem(e)
        self.statusBar().showMessage(f"Model folder {self._model_folder_counted}: {n} "
                                     f"model{'s' if n != 1 else ''} found", 8000)

    def analyze(self, entry) -> None:
        """Run ``entry`` on the shown stack in the background; the viewer stays usable."""
        px = self.views[0].pixels
        if px is None:
            return
        self.cancel_analysis()
        self._request += 1
        job = AnalyzeJob(self._request, self.runner, entry, px)
        job.progress.connect(self._on_analyze_progress)
        job.finished.connect(self._on_analyzed)
        job.failed.connect(self._on_analyze_failed)
        self._analyze = job
        self.analyze_progress.setRange(0, 100)
        self.analyze_progress.setValue(0)
        self.analyze_progress.setFormat(f"{entry.manifest.name}: %p%")
        self.analyze_progress.show()
        self.analyze_cancel.show()
        self.statusBar().showMessage(f"Analyzing {px.stack.label} with {entry.manifest.title}…")
        job.start()

    def cancel_analysis(self) -> None:
        if self._analyze is not None:
            self._analyze.cancel()
        self._end_analysis()

    def _end_analysis(self) -> None:
        self._analyze = None
        self.analyze_progress.hide()
        self.analyze_cancel.hide()

    def _on_analyze_progress(self, request: int, done: int, total: int) -> None:
        if self._analyze is not None and request == self._analyze.request:
            self.analyze_progress.setValue(int(100 * done / max(total, 1)))
            self.analyze_progress.setToolTip(self._analyze.stage)

    def _on_analyzed(self, request: int, result) -> None:
        if self._analyze is None or request != self._analyze.request:
            return
        self._end_analysis()
        self.results[result.stack_uid] = result  # the result stays with its series
        self.statusBar().showMessage(f"{result.title} finished on {result.stack_label} in "
                                     f"{result.timings_s['total']:.1f} s", 8000)
        if self.views[0].pixels is not None and self.views[0].pixels.stack.uid == \
                result.stack_uid:
            self._show_result_of(result.stack_uid)

    def _on_analyze_failed(self, request: int, message: str) -> None:
        if self._analyze is None or request != self._analyze.request:
            return
        self._end_analysis()
        self.report_problem(message)

    def _show_result_of(self, stack_uid: str) -> None:
        result = self.results.get(stack_uid)
        self.result_panel.set_result(result)
        if result is not None:
            self.results_dock.show()
        self._apply_overlay()
        self._show_slice_scores()

    def _apply_overlay(self) -> None:
        result = self.result_panel.result
        panel = self.result_panel
        for v in self.views:
            if (result is None or result.label_volume is None or v.pixels is None
                    or v.pixels.stack.uid != result.stack_uid
                    or not panel.show_overlay.isChecked()):
                v.set_overlay(None)
                continue
            lut = label_lut(result, panel.visible_labels(), panel.opacity.value() / 100,
                            panel.colors)
            v.set_overlay(result.label_volume, lut, panel.outline.isChecked())

    def _show_slice_scores(self) -> None:
        v = self.view
        r = self.result_panel.result
        if r is None or r.slice_scores is None or v.pixels is None:
            return
        self.result_panel.show_slice_scores(v.index if v.plane == ACQUIRED else None)

    def clear_result(self) -> None:
        px = self.views[0].pixels
        if px is not None and self.results.pop(px.stack.uid, None) is not None:
            self.runner.forget(px.stack.uid)
        self._show_result_of(px.stack.uid if px is not None else "")

    def jump_to_label(self, value: int) -> None:
        """Show the largest cross-section of label ``value`` in the active view."""
        import numpy as np

        r = self.result_panel.result
        v = self.view
        if r is None or r.label_volume is None or v.pixels is None:
            return
        vol = r.label_volume == value
        if v.plane == ACQUIRED or not v.has_reformat:
            areas = vol.sum(axis=(1, 2))
        else:
            axis = PLANES.index(v.plane)
            can = v._reformat.canonical(vol)
            areas = can.sum(axis=tuple(a for a in range(3) if a != axis))
        if areas.max() > 0:
            v.set_index(int(np.argmax(areas)))

    def report_problem(self, message: str) -> None:
        """Show an error in the status bar and the non-modal Problems panel."""
        stamp = QTime.currentTime().toString("HH:mm:ss")
        self.problems.addItem(f"{stamp}  {message}")
        self.problems.scrollToBottom()
        n = self.problems.count()
        self.problems_label.setText(f'<a href="problems">{n} problem{"s" if n > 1 else ""}</a>')
        self.problems_dock.show()
        self.statusBar().showMessage(message, 15000)

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
        for v in self.views:
            v.clear()
        self.skipped_label.setText("")
        self.settings.setValue("last_folder", path)
        self._add_recent(path)
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
        """Show ``stack``; its slices decode in the background, the middle one first."""
        if self.views[0].pixels is not None and self.views[0].pixels.stack is stack:
            return  # Enter on the series already shown: keep its slice and window
        self._stop_load()
        self.toggle_cine(False)
        px = self._pixels_by_uid.get(stack.uid)
        if px is None or px.stack is not stack:
            px = StackPixels(stack)
            self._pixels_by_uid[stack.uid] = px
        self.center.setCurrentWidget(self._views_box)
        self.slider.show()
        self.views[0].set_stack(px)
        if self.layout_mode == "1x3":
            self.set_layout("1x3")  # falls back to single when the stack cannot reformat
        self.set_active_view(0)
        self._show_result_of(stack.uid)
        self._load_linked_seg(stack)
        self._request_load = self._request * 1000 + self.series_list.currentRow()
        job = LoadJob(self._request_load, px, px.stack.n_frames // 2)
        job.slice_loaded.connect(self._on_slice_loaded)
        job.slices_failed.connect(self._on_slices_failed)
        job.failed.connect(self._on_background_failed)
        self._load = job
        job.start()
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
        px = self.views[0].pixels
        if px is not None and px.stack.uid == result.stack_uid:
            self._show_result_of(result.stack_uid)
        self.statusBar().showMessage(f"Showing {result.model_name} over {result.stack_label}",
                                     8000)

    def _stop_load(self) -> None:
        if self._load is not None:
            self._load.cancel()
            self._load = None

    def _on_slice_loaded(self, request: int, k: int) -> None:
        if self._load is None or request != self._load.request:
            return  # a stale result from a series the user has left
        for v in self.visible_views():
            v.on_slice_loaded(k)

    def _on_slices_failed(self, request: int, ks: list) -> None:
        # Undecodable slices show as marked placeholders (and gaps in a reformat).
        for k in ks:
            self._on_slice_loaded(request, k)

    def _sync_slider(self, k: int) -> None:
        if self.slider.maximum() != self.view.n_slices - 1:
            self.slider.setRange(0, max(0, self.view.n_slices - 1))
        self.slider.blockSignals(True)
        self.slider.setValue(self.view.display_position(k))  # image 1 where the scanner put it
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
        for v in self.views:
            v.default_window_ct = prefs.ct_window
            v.default_window_other = prefs.other_window
            v.set_scroll_direction(prefs.scroll_direction)
        if self.view.pixels is not None:
            self._sync_slider(self.view.index)
        self.result_panel.opacity.setValue(prefs.overlay_opacity)
        self.result_panel.outline.setChecked(prefs.overlay_outline)

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

    def closeEvent(self, ev):  # noqa: N802
        self.toggle_cine(False)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        # Every running job, including loads the user has left: one deadline for all.
        stop_all(3.0)
        super().closeEvent(ev)


def _qimage(img: np.ndarray) -> QImage:
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    if img.ndim == 3:
        q = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    else:
        q = QImage(img.data, w, h, w, QImage.Format.Format_Grayscale8)
    return q.copy()  # own the bytes: the numpy array goes away
