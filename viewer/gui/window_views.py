"""The main window's viewports: the layout grid, which series and plane each viewport shows,
the active one, loading the series shown, the slider, cine and the view commands (tool,
plane, invert, reset). Sync between viewports is in :mod:`viewer.gui.view_sync`."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QAction

from viewer.dicom.pixels import StackPixels
from viewer.dicom.reformat import PLANES
from viewer.display.viewport import LAYOUT_TITLES, LAYOUTS, Viewport, ViewportModel, parallel
from viewer.gui import memory
from viewer.gui.slice_view import ACQUIRED, SliceView
from viewer.gui.viewport_grid import ViewportGrid
from viewer.gui.workers import LoadJob

PLANE_TITLES = {ACQUIRED: "Acquired", "axial": "Axial", "coronal": "Coronal",
                "sagittal": "Sagittal"}


class ViewsMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: its viewports."""

    def _make_views(self) -> ViewportGrid:
        self.vp_model = ViewportModel()
        self.all_views = [SliceView() for _ in range(4)]
        self._loads: dict[int, LoadJob] = {}  # request -> load job (one per stack shown)
        self._load_seq = 0
        self._load = None  # the load of the series chosen last (tests wait on it)
        for v in self.all_views:
            v.measurements = self.measurements
        self.grid = ViewportGrid(self.all_views, drop_uid=self._drop_uid)
        self.grid.activated.connect(self.set_active_view)
        self.grid.maximise_toggled.connect(self.toggle_maximised)
        self.grid.series_dropped.connect(self.show_in_viewport)
        for f in self.grid.frames:
            f.menu.aboutToShow.connect(lambda f=f: self._fill_viewport_menu(f))
        self.grid.arrange(self.vp_model)
        return self.grid

    # ------------------------------------------------------------------ state

    @property
    def layout_mode(self) -> str:
        """"single", "1x2", "2x1", "2x2" or "1x3" (see viewer.display.viewport.LAYOUTS)."""
        return self.vp_model.layout

    @property
    def _active(self) -> int:
        return self.vp_model.active

    @property
    def views(self) -> list[SliceView]:
        """The viewports of the layout, in grid order (left to right, top to bottom)."""
        return self.all_views[: self.vp_model.count]

    @property
    def view(self) -> SliceView:
        """The active view: keyboard, menu and slider act on it."""
        return self.all_views[self.vp_model.active]

    def visible_views(self) -> list[SliceView]:
        return [self.all_views[i] for i in self.vp_model.shown()]

    def set_active_view(self, i: int) -> None:
        self.vp_model.active = i
        self.grid.set_active(i, outline=len(self.vp_model.shown()) > 1)
        v = self.view
        self._sync_slider(v.index)
        self._update_tags()
        uid = v.pixels.stack.uid if v.pixels is not None else None
        if uid is not None and uid != self._current_uid() and self.catalog is not None:
            uids = [st.uid for st in self.catalog.stacks()]
            if uid in uids:  # the browser follows the active viewport (no reload)
                self.series_list.blockSignals(True)
                self.series_list.setCurrentRow(uids.index(uid))
                self.series_list.blockSignals(False)
        if uid is not None and hasattr(self, "result_panel"):
            self._show_result_of(uid)

    def viewport_state(self, i: int) -> Viewport:
        """Viewport ``i`` as the core model describes it, read from its view now: series,
        plane, the point read (patient mm), window, zoom (screen px per image px), pan (view
        centre, source coordinates), rotation and flip, slab."""
        v, vp = self.all_views[i], self.vp_model.viewports[i]
        vp.stack_uid = v.pixels.stack.uid if v.pixels is not None else None
        vp.plane = v.plane
        vp.point = self._current_point(v) if v.pixels is not None else None
        vp.window = (v.window.center, v.window.width) if v.window is not None else None
        if v.pixels is not None:
            (x0, x1), (y0, y1) = v.viewbox.viewRange()
            x, y = v.view_to_source(QPointF((x0 + x1) / 2, (y0 + y1) / 2))
            vp.zoom, vp.pan = v.zoom_factor(), (float(x), float(y))
        vp.rotation, vp.flipped = v.transform.quarter_turns, v.transform.flip_h
        mode = getattr(v, "slab_mode", None)
        vp.slab_mode = getattr(mode, "value", mode) or vp.slab_mode
        vp.slab_mm = float(getattr(v, "slab_thickness_mm", 0.0))
        return vp

    def toggle_maximised(self, i: int) -> None:
        """Double-click: viewport ``i`` fills the grid; again: the layout comes back."""
        if self.vp_model.count == 1:
            return
        self.vp_model.toggle_maximised(i)
        self.grid.arrange(self.vp_model)
        self.set_active_view(i)
        self._update_references()

    def set_layout(self, mode: str) -> None:
        """One of LAYOUTS. "1x3" shows the active series axial, coronal and sagittal through
        the point being read; the others keep each viewport's series and fill empty ones with
        the next series of the study."""
        if mode not in LAYOUTS:
            mode = "single"
        v = self.view
        px = v.pixels
        if mode == "1x3" and px is not None and not v.has_reformat:
            self.statusBar().showMessage(
                "The 1×3 layout needs a stack of several slices with position information; "
                "this series has none.", 8000)
            mode = "single"
        point = self._current_point(v) if px is not None else None
        was_1x3 = self.layout_mode == "1x3"
        if mode != "1x3" and px is not None and self.vp_model.active != 0:
            self._syncing = True  # the active series moves into the first viewport
            try:
                self._put(0, px.stack, v.plane, point)
            finally:
                self._syncing = False
        self.vp_model.set_layout(mode)
        self.vp_model.active = 0
        self.layout_action.setChecked(mode == "1x3")
        for name, a in self.layout_actions.items():
            a.setChecked(name == mode)
        self.settings.setValue("view/layout", mode)
        if px is not None:
            self._syncing = True
            try:
                if mode == "1x3":
                    for i, plane in enumerate(PLANES):
                        self._put(i, px.stack, plane, point)
                    self._share_window(self.all_views[0])
                elif was_1x3 and mode == "single":
                    self._put(0, px.stack, v.plane if v.plane in PLANES else ACQUIRED, point)
                else:
                    self._fill_empty()
            finally:
                self._syncing = False
        self.grid.arrange(self.vp_model)
        for w in self.all_views:
            w.show_crosshair = mode != "single"
        if px is not None and point is not None and self.vp_model.crosshair is not None:
            self.set_crosshair_point(self.vp_model.crosshair)
        self._stop_unused_loads()
        if px is not None:
            self._apply_overlay()  # the AI labels show in every plane
        self.set_active_view(0)
        self._update_titles()
        self._update_references()

    def _fill_empty(self) -> None:
        """Empty viewports of the layout get series of the study not shown yet."""
        if self.catalog is None:
            return
        shown = {w.pixels.stack.uid for w in self.views if w.pixels is not None}
        spare = [st for st in self.catalog.stacks() if st.uid not in shown]
        for i in range(self.vp_model.count):
            if self.all_views[i].pixels is None and spare:
                v = self._put(i, spare.pop(0))
                self._align_with_earlier(i, v)

    def _align_with_earlier(self, i: int, v: SliceView, anywhere: bool = False) -> None:
        """A series just placed in viewport ``i`` goes to the position read in the first
        viewport before it (``anywhere``: any other shown one) showing a parallel plane."""
        sp = self.slice_planes_of(v)
        others = self.visible_views() if anywhere else self.all_views[:i]
        for w in others:
            wsp = self.slice_planes_of(w) if w is not v else None
            if sp is not None and wsp is not None and parallel(sp, wsp):
                self._go_to_point(v, self._current_point(w))
                return

    # ------------------------------------------------------------------ content

    def _pixels_for(self, stack) -> StackPixels:
        px = self._pixels_by_uid.get(stack.uid)
        if px is None or px.stack is not stack:
            px = StackPixels(stack)
            self._pixels_by_uid[stack.uid] = px
        return px

    def _put(self, i: int, stack, plane: str | None = None, point=None) -> SliceView:
        """Viewport ``i`` shows ``stack`` in ``plane`` (default: as it was, else acquired)
        through patient ``point`` (mm) when given; its slices load in the background."""
        v = self.all_views[i]
        px = self._pixels_for(stack)
        if v.pixels is not px:
            v.set_stack(px)
            self._share_window(v, from_others=True)
        if plane is not None and plane != v.plane and plane in v.planes:
            v.set_plane(plane)
        vp = self.vp_model.viewports[i]
        if vp.stack_uid != stack.uid:
            vp.point = None
        if point is not None:
            self._go_to_point(v, point)
            vp.point = tuple(point)
        vp.stack_uid = stack.uid
        self.vp_model.viewports[i].plane = v.plane
        self._ensure_loading(px, v.index)
        return v

    def show_in_viewport(self, i: int, uid: str, plane: str | None = None) -> None:
        """Viewport ``i`` shows the series with stack uid ``uid`` (drop, viewport menu)."""
        stack = self._stack_by_uid(uid)
        if stack is None:
            return
        self.center.setCurrentWidget(self._views_box)
        self.slider.show()
        if self.layout_mode == "1x3" and i < 3:
            self.vp_model.active = i
            self.show_stack(stack)
            return
        point = self._current_point(self.all_views[i]) if plane is not None else None
        self._syncing = True
        try:
            self._put(i, stack, plane, point)
        finally:
            self._syncing = False
        self._stop_unused_loads()
        self.set_active_view(i)
        self._apply_overlay()
        self._update_titles()
        if self.vp_model.sync_position:  # a new series joins the position read beside it
            self._align_with_earlier(i, self.all_views[i], anywhere=True)
        self._update_references()

    def _stack_by_uid(self, uid: str):
        for cat in (self.catalog, getattr(self, "prior_catalog", None)):
            if cat is not None:
                for st in cat.stacks():
                    if st.uid == uid:
                        return st
        return None

    def _drop_uid(self, ev) -> str | None:
        """A drag from the series browser's tree: the series row it started on."""
        tree = self.series_list.tree
        if ev.source() is tree and tree.currentItem() is not None:
            return self._current_uid()
        return None

    def _fill_viewport_menu(self, frame) -> None:
        """The viewport's menu: its plane, then every series (current study, then prior)."""
        menu, i, v = frame.menu, frame.index, frame.view
        menu.clear()
        for plane in v.planes if v.pixels is not None else []:
            a = menu.addAction(PLANE_TITLES[plane])
            a.setCheckable(True)
            a.setChecked(plane == v.plane)
            a.triggered.connect(lambda _=False, p=plane: self._set_plane_of(i, p))
        menu.addSeparator()
        groups = [("", self.catalog), ("Prior: ", getattr(self, "prior_catalog", None))]
        for prefix, cat in groups:
            for st in cat.stacks() if cat is not None else []:
                a = menu.addAction(f"{prefix}{st.first.modality} {st.label}")
                a.triggered.connect(lambda _=False, u=st.uid: self.show_in_viewport(i, u))

    def _set_plane_of(self, i: int, plane: str) -> None:
        self.set_active_view(i)
        self.set_plane(plane)

    def _update_titles(self) -> None:
        prior = getattr(self, "prior_catalog", None)
        prior_uids = {st.uid for st in prior.stacks()} if prior is not None else set()
        for f in self.grid.frames:
            px = f.view.pixels
            if px is None:
                f.title.setText("drop a series here, or ▾")
                continue
            tag = "Prior · " if px.stack.uid in prior_uids else ""
            f.title.setText(f"{tag}{px.stack.first.modality} {px.stack.label} · "
                            f"{PLANE_TITLES.get(f.view.plane, f.view.plane)}")

    # ------------------------------------------------------------------ loading

    def _ensure_loading(self, px: StackPixels, first: int) -> None:
        for job in self._loads.values():
            if job.pixels is px and not job.cancelled:
                return
        self._load_seq += 1
        job = LoadJob(self._request * 1000 + self._load_seq % 1000, px, first)
        job.slice_loaded.connect(self._on_slice_loaded)
        job.slices_failed.connect(self._on_slices_failed)
        job.failed.connect(self._on_background_failed)
        self._loads[job.request] = job
        self._load = job
        job.start()

    def _stop_unused_loads(self) -> None:
        """After viewports changed series: loads of series no viewport of the layout shows
        stop, and decoded series left beyond the memory budget are let go (oldest first)."""
        shown = {id(v.pixels) for v in self.views if v.pixels is not None}
        for req, job in list(self._loads.items()):
            if id(job.pixels) not in shown:
                job.cancel()
                del self._loads[req]
        held = [v.pixels.stack.uid for v in self.all_views if v.pixels is not None]
        memory.keep_recent(self._pixels_by_uid, held)

    def _stop_load(self) -> None:
        for job in self._loads.values():
            job.cancel()
        self._loads.clear()

    def _on_slice_loaded(self, request: int, k: int) -> None:
        job = self._loads.get(request)
        if job is None:
            return  # a stale result from a series the user has left
        for v in self.visible_views():
            if v.pixels is job.pixels:
                v.on_slice_loaded(k)

    def _on_slices_failed(self, request: int, ks: list) -> None:
        # Undecodable slices show as marked placeholders (and gaps in a reformat).
        for k in ks:
            self._on_slice_loaded(request, k)

    def _sync_slider(self, k: int) -> None:
        # Signals blocked for the range too: a shorter range clamps the value, and that
        # valueChanged would send the newly active view to its last slice (PET in 1x3).
        self.slider.blockSignals(True)
        if self.slider.maximum() != self.view.n_slices - 1:
            self.slider.setRange(0, max(0, self.view.n_slices - 1))
        self.slider.setValue(self.view.display_position(k))  # image 1 where the scanner put it
        self.slider.blockSignals(False)

    # ------------------------------------------------------------------ view commands

    def _layout_actions(self, menu) -> None:
        """View ▸ Layout: one checkable action per layout (Alt+1 … Alt+5)."""
        self.layout_actions: dict[str, QAction] = {}
        for n, name in enumerate(LAYOUTS, 1):
            a = self._action(menu, LAYOUT_TITLES[name],
                             lambda _=False, m=name: self.set_layout(m), f"Alt+{n}",
                             checkable=True)
            self.layout_actions[name] = a

    def set_tool(self, tool: str) -> None:
        for v in self.all_views:
            v.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def set_plane(self, plane: str) -> None:
        """The active viewport shows ``plane``, through the point being read."""
        v = self.view
        point = self._current_point(v)
        if self.layout_mode == "1x3":
            self.set_layout("single")
            v = self.view
        self._syncing = True
        try:
            v.set_plane(plane)
            if point is not None:
                self._go_to_point(v, point)
        finally:
            self._syncing = False
        vp = self.vp_model.viewports[self.vp_model.active]
        vp.plane, vp.point = v.plane, point
        self._sync_slider(v.index)
        self._update_titles()
        self._update_references()

    def set_inverted(self, on: bool) -> None:
        for v in self.visible_views():
            v.set_inverted(on)

    def reset_view(self) -> None:
        self.invert_action.setChecked(False)
        for v in self.visible_views():
            v.reset()
