"""The main window: open a study, browse its series, read its images.

MainWindow composes parts that each own one job (one module each): opening and the series
browser (window_opening), viewports and layouts (window_views, viewport_grid, view_sync),
comparison with a prior study (window_compare), AI (window_ai), export
(export_actions), menus and toolbar (window_menus), preferences/tags/problems/help
(window_misc)."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QMainWindow,
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
from viewer.display.measure import MeasurementStore
from viewer.gui import archive_actions, window_persist, window_registration
from viewer.gui.export_actions import ExportController
from viewer.gui.overlay import ResultPanel
from viewer.gui.preferences import Preferences
from viewer.gui.series_browser import SeriesBrowser
from viewer.gui.series_rows import WrappingRows
from viewer.gui.tag_browser import TagBrowser
from viewer.gui.view_sync import SyncMixin
from viewer.gui.volume_nav import VolumeNavigator
from viewer.gui.window_ai import AIMixin
from viewer.gui.window_cine import CineMixin
from viewer.gui.window_compare import CompareMixin
from viewer.gui.window_menus import MenusMixin
from viewer.gui.window_misc import MOUSE_HELP, MiscMixin
from viewer.gui.window_opening import RESEARCH_NOTICE, OpeningMixin
from viewer.gui.window_views import ViewsMixin
from viewer.gui.workers import AnalyzeJob, LoadJob, ScanJob, ThumbnailJob, stop_all

__all__ = ["MOUSE_HELP", "RESEARCH_NOTICE", "MainWindow"]


class MainWindow(ViewsMixin, SyncMixin, CompareMixin, CineMixin, OpeningMixin, AIMixin, MenusMixin,
                 MiscMixin, QMainWindow):
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
        self._syncing = False

        # Four viewports in a grid (viewer.gui.viewport_grid); the layout shows 1 to 4.
        views_box = self._make_views()
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
        tree = self.series_list.tree
        self._series_rows = WrappingRows(tree)  # warnings in full, not cut off at the edge
        tree.setDragEnabled(True)  # drag a series onto a viewport
        tree.setDragDropMode(tree.DragDropMode.DragOnly)

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
        for v in self.all_views:
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
        archive_actions.install(self)  # archives, de-identified export, audit log
        window_persist.install(self)  # measurements and key images saved and restored
        window_registration.install(self)  # Tools > Register series…, Registration dock
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
        for d in self.findChildren(QDockWidget):  # a closed dock gives focus back to the view
            d.visibilityChanged.connect(self._on_dock_visibility)

    def _on_dock_visibility(self, visible: bool) -> None:
        focus = self.focusWidget()
        if not visible and (focus is None or focus is self.fps or not focus.isVisible()):
            self.view.setFocus()


    def closeEvent(self, ev):  # noqa: N802
        self.toggle_cine(False)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        # Every running job, including loads the user has left: one deadline for all.
        stop_all(3.0)
        super().closeEvent(ev)


