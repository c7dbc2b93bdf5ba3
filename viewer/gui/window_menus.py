"""The main window's menus and toolbar. Adding a command is one ``self._action(menu, ...)``
line here; another part adds its own with ``window.add_action("&AI", "Text", slot)`` and
``window.add_dock("Title", widget)`` without touching this file."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QSpinBox, QToolBar, QToolButton, QWidget

from viewer.display.colormaps import COLORMAPS
from viewer.display.window import CT_PRESETS
from viewer.gui.fusion_action import FusionController
from viewer.gui.slice_view import ACQUIRED


class MenusMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: menus, shortcuts and toolbar."""

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

    def add_action(self, menu_title: str, text: str, slot, shortcut=None,
                   checkable: bool = False, before: str | None = None) -> QAction:
        """A command in top-level menu ``menu_title`` ("&File", "&AI", …; made when new),
        with its shortcut listed in Help ▸ Keyboard shortcuts; ``before``: the text of the
        item to put it before (e.g. so that Quit stays last), else at the end."""
        for a in self.menuBar().actions():
            if a.menu() is not None and a.text() == menu_title:
                menu = a.menu()
                break
        else:
            menu = self.menuBar().addMenu(menu_title)
        action = self._action(menu, text, slot, shortcut, checkable)
        anchor = next((x for x in menu.actions() if before and x.text() == before), None)
        if anchor is not None:
            menu.removeAction(action)
            menu.insertAction(anchor, action)
        return action

    def add_dock(self, title: str, widget: QWidget, object_name: str,
                 area=Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """A hidden dock panel (its place is remembered with the window state)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        dock.hide()
        dock.visibilityChanged.connect(self._on_dock_visibility)
        return dock

    def _make_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&Open folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self._action(f, "Open &sample study", self.open_sample, "Ctrl+Shift+O")
        self.recent_menu = f.addMenu("&Recent studies")
        self._fill_recent()
        self._action(f, "Show skipped files", self.show_skipped)
        self._action(f, "Open as &comparison…", self.choose_comparison_folder)
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
        self._action(v, "Zoom in", lambda: self.zoom_command(lambda w: w.zoom(1.25)), "+")
        self._action(v, "Zoom out", lambda: self.zoom_command(lambda w: w.zoom(0.8)), "-")
        self._action(v, "Fit to window", lambda: self.zoom_command(lambda w: w.fit()), "F")
        self._action(v, "1:1 pixels", lambda: self.zoom_command(lambda w: w.one_to_one()), "1")
        self._action(v, "Rotate 90° clockwise", lambda: self.view.rotate(True), "Ctrl+R")
        self._action(v, "Rotate 90° counter-clockwise", lambda: self.view.rotate(False),
                     "Ctrl+Shift+R")
        self._action(v, "Flip horizontal", lambda: self.view.flip_horizontal(), "H")
        self._action(v, "Flip vertical", lambda: self.view.flip_vertical(), "V")
        self.invert_action = self._action(v, "Invert", self.set_inverted, "I", checkable=True)
        self._action(v, "Reset view", self.reset_view, "R")
        v.addSeparator()
        # Thick slab, colour map and PET fusion (viewer/gui/slice_modes.py, fusion_action.py).
        self.fusion = FusionController(self)
        self._action(v, "Thick slab thickness (off, 5, 10, 20, 40 mm)",
                     lambda: self.view.cycle_slab_thickness(), "T")
        self._action(v, "Thick slab mode (MIP, MinIP, average)",
                     lambda: self.view.cycle_slab_mode(), "Shift+T")
        self._action(v, "Colour map (grey, inverted grey, hot iron, rainbow)",
                     self._next_colormap, "C")
        self.fusion_action = self._action(v, "Fuse PET", self.fusion.toggle, checkable=True)
        v.addSeparator()
        plane = v.addMenu("Plane")
        for i, (name, label) in enumerate(((ACQUIRED, "Acquired"), ("axial", "Axial"),
                                           ("coronal", "Coronal"), ("sagittal", "Sagittal"))):
            self._action(plane, label, lambda _=False, n=name: self.set_plane(n),
                         f"Ctrl+{i + 1}")
        self.layout_action = self._action(
            v, "1×3 layout (axial, coronal, sagittal)",
            lambda on: self.set_layout("1x3" if on else "single"), "L", checkable=True)
        self.layout_menu = v.addMenu("Layout")
        self._layout_actions(self.layout_menu)
        self.sync_menu = v.addMenu("Sync viewports")
        self._sync_actions(self.sync_menu)
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
                                 ("ellipse", "Ellipse ROI", "E"), ("rect", "Rectangle ROI", "B"),
                                 ("angle", "Angle (3 clicks)", "N"),
                                 ("cobb", "Cobb angle (2 lines)", "O"),
                                 ("polygon", "Polygon ROI (double-click closes)", "P"),
                                 ("freehand", "Freehand ROI", "D"),
                                 ("arrow", "Arrow with text", "W")):
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

    def _next_colormap(self) -> None:
        """The active view's next colour map, applied to every visible view."""
        name = COLORMAPS[(COLORMAPS.index(self.view.colormap) + 1) % len(COLORMAPS)]
        for view in self.visible_views():
            view.set_colormap(name)

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
        # Only a click focuses it: otherwise focus falls here when a dock or the Cancel
        # button goes, and single-key shortcuts (M, L, Space) would type into the box.
        self.fps.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        tb.addWidget(self.fps)
        self.volume_nav.toolbar_action = tb.addWidget(self.volume_nav.widget)
        self.volume_nav.sync()  # hidden until a 4-D series shows
        tb.addSeparator()
        tb.addAction(self.invert_action)
        tb.addSeparator()
        tb.addAction(self.analyze_action)
        tb.addAction(self.export_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self._make_viewports_toolbar()

    def _make_viewports_toolbar(self) -> None:
        """Second row: the layout grid button and each sync toggle, always visible."""
        tb = QToolBar("Viewports", self)
        tb.setObjectName("viewports_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        grid = QToolButton()
        grid.setText("▦ Layout")
        grid.setToolTip("Viewport layout (Alt+1 … Alt+5; L: 1×3 MPR)")
        grid.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        grid.setMenu(self.layout_menu)
        grid.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.layout_button = grid
        tb.addWidget(grid)
        self.layout_action.setIconText("1×3 MPR")
        tb.addAction(self.layout_action)
        tb.addSeparator()
        for key, short in (("position", "Sync scroll"), ("window", "Sync W/L"),
                           ("zoom", "Sync zoom"), ("refs", "Reference lines")):
            a = self.sync_actions[key]
            a.setIconText(short)
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(self.fusion.slider)
        self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
