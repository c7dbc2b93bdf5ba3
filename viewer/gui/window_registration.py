"""Tools ▸ Register series…: one series (the moving one: another of this study, or of the
prior opened beside it) registered onto the active view's series (the fixed one) in the
background, with progress (level, iteration, metric) and cancel.

The result shows in the Registration dock (:mod:`viewer.gui.registration_panel`): metric before
and after, a checkerboard or blend of the fixed slice being read with the moving series
resampled onto it, Save registration (a DICOM Spatial Registration object beside the study).
While linked, it maps points between the two series for synced scrolling
(:meth:`RegistrationController.map_point`, called by ``view_sync``). A saved registration of a
pair is found again, and used, when the two series are shown side by side.

Matrices are 4x4 in patient LPS mm (:mod:`viewer.registration`). Volumes are ``(slice, row,
column)`` real values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QPushButton

from viewer.dicom.pixels import to_real_volume
from viewer.gui.registration_panel import RegisterDialog, RegistrationPanel
from viewer.gui.slice_view import ACQUIRED
from viewer.gui.window_persist import new_study, study_dir_of
from viewer.gui.workers import CallJob, Job
from viewer.persist.planes import reformat_of
from viewer.registration.sync import matching_slice


@dataclass
class Registered:
    """A registration in use: ``fixed_to_moving`` (4x4 LPS mm), the metric figures when it was
    computed here (``result``, else None: read from ``saved_path``), and for the quality view
    the fixed volume and the moving one resampled onto it (:func:`compact`: float16, each
    scaled to at most 1; slice, row, column)."""

    fixed: object
    moving: object
    fixed_to_moving: np.ndarray
    result: object | None
    saved_path: str | None
    fixed_real: np.ndarray
    on_fixed: np.ndarray
    seconds: float

    @property
    def moving_to_fixed(self) -> np.ndarray:
        return np.linalg.inv(self.fixed_to_moving)


def compact(volume: np.ndarray) -> np.ndarray:
    """``volume`` scaled to at most 1 in magnitude, as float16, for the quality view only: its
    images are normalised by their percentiles (scale-free), and half the memory of float32
    matters for a 512² CT (2 x 160 MB instead of 2 x 320 MB). Precision: 1/2048 of the
    maximum (about 2 HU on CT)."""
    peak = float(np.nanmax(np.abs(volume))) if volume.size else 0.0
    return (volume / (peak if np.isfinite(peak) and peak > 0 else 1.0)).astype(np.float16)


def _real(px, cancel) -> np.ndarray:
    vol = px.load_volume(cancel=cancel)  # shared with the views: decoded once
    return to_real_volume(vol, [f.header for f in px.stack.frames]).astype(np.float32)


class RegistrationJob(Job):
    """Register ``moving`` onto ``fixed`` (StackPixels), or use ``matrix`` (fixed -> moving,
    from a saved object), then resample the moving volume onto the fixed grid.
    ``iteration(request, RegistrationProgress)``; ``finished(request, Registered)``."""

    iteration = Signal(int, object)
    finished = Signal(int, object)

    def __init__(self, request: int, fixed_px, moving_px, kind: str = "rigid", settings=None,
                 matrix: np.ndarray | None = None, saved_path: str | None = None) -> None:
        super().__init__(request)
        self.fixed_px, self.moving_px = fixed_px, moving_px
        self.kind, self.settings = kind, settings
        self.matrix, self.saved_path = matrix, saved_path

    def run(self) -> None:
        from viewer.errors import OperationCancelled
        from viewer.registration.images import stack_image
        from viewer.registration.quality import resample_onto
        from viewer.registration.rigid import register

        t0 = time.perf_counter()
        fixed, moving = self.fixed_px.stack, self.moving_px.stack
        fv, mv = _real(self.fixed_px, self.cancel_event), _real(self.moving_px, self.cancel_event)
        result, matrix = None, self.matrix
        if matrix is None:
            result = register(stack_image(fixed, fv), stack_image(moving, mv), kind=self.kind,
                              settings=self.settings, cancel=self.cancel_event,
                              progress=lambda p: self.iteration.emit(self.request, p))
            matrix = result.fixed_to_moving
        if self.cancelled:
            raise OperationCancelled("registration cancelled")
        on_fixed = compact(resample_onto(mv, moving.affine, fv.shape, fixed.affine, matrix))
        del mv
        self.finished.emit(self.request, Registered(fixed, moving, np.asarray(matrix, float),
                                                    result, self.saved_path, compact(fv),
                                                    on_fixed, time.perf_counter() - t0))


def _menu_before(window, title: str, before: str) -> None:
    """Move top-level menu ``title`` in front of ``before`` (Help stays last)."""
    bar = window.menuBar()
    menus = {a.text(): a for a in bar.actions() if a.menu() is not None}
    if title in menus and before in menus:
        bar.removeAction(menus[title])
        bar.insertAction(menus[before], menus[title])


class RegistrationController(QObject):
    """Registration in one main window (``window.registration``)."""

    def __init__(self, window, settings=None) -> None:
        super().__init__(window)
        self.w = window
        self.settings = settings  # RegistrationSettings; None: the core's defaults
        self.current: Registered | None = None
        self.job: RegistrationJob | None = None
        self.dialog: RegisterDialog | None = None
        self._request = 0
        self._catalog = None  # the study last seen (see window_persist.new_study)
        self._catalog_request = -1
        self._checked: set[tuple[str, str]] = set()  # pairs looked up for a saved object
        self._side_jobs: list[CallJob] = []
        self.action = window.add_action("&Tools", "&Register series…", self.choose)
        _menu_before(window, "&Tools", "&Help")
        self.panel = RegistrationPanel()
        self.dock = window.add_dock("Registration", self.panel, "registration_dock")
        self.panel.changed.connect(self.update_quality)
        self.panel.save_requested.connect(self.save)
        self.panel.link_toggled.connect(lambda _on: self.w._sync_position_from(self.w.view))
        self.dock.visibilityChanged.connect(lambda vis: vis and self.update_quality())
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel registration")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel)
        window.statusBar().addPermanentWidget(self.progress)
        window.statusBar().addPermanentWidget(self.cancel_button)
        for v in window.all_views:
            v.slice_changed.connect(lambda _k: self.update_quality())
            v.image_shown.connect(self._on_shown)

    # ------------------------------------------------------------------ choosing

    def candidates(self, fixed) -> list:
        """Series that can go onto ``fixed``: 3-D stacks of this study and the prior."""
        out = []
        for cat in (self.w.catalog, getattr(self.w, "prior_catalog", None)):
            for st in cat.stacks() if cat is not None else ():
                if st is not fixed and st.affine is not None and st.n_frames > 1:
                    out.append(st)
        return out

    def choose(self) -> None:
        """Tools ▸ Register series…: the active view's series is the fixed one."""
        v = self.w.view
        if v.pixels is None:
            self.w.statusBar().showMessage("Show the series to register onto first.", 6000)
            return
        fixed = v.pixels.stack
        cands = self.candidates(fixed)
        if not cands:
            self.w.statusBar().showMessage("No other 3-D series to register onto this one.",
                                           6000)
            return
        others = [o.pixels.stack for o in self.w.visible_views()
                  if o.pixels is not None and o.pixels.stack is not fixed]
        self.dialog = RegisterDialog(self.w, fixed, cands, others[0] if others else None)
        self.dialog.accepted.connect(lambda d=self.dialog, f=fixed: self.start(f, *d.chosen()))
        self.dialog.open()

    # ------------------------------------------------------------------ running

    def start(self, fixed, moving, kind: str = "rigid", matrix=None,
              saved_path: str | None = None) -> None:
        """Register ``moving`` onto ``fixed`` in the background (or, with ``matrix``, use a
        saved fixed -> moving registration)."""
        if self.job is not None:
            self.job.cancel()
        self._request += 1
        job = RegistrationJob(self._request, self.w._pixels_for(fixed),
                              self.w._pixels_for(moving), kind, self.settings, matrix,
                              saved_path)
        job.iteration.connect(self._on_iteration)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        self.job = job
        if matrix is None:
            self.progress.setRange(0, 0)
            self.progress.show()
            self.cancel_button.show()
            self.w.statusBar().showMessage(f"Registering {moving.label} onto {fixed.label}…")
        job.start()

    def cancel(self) -> None:
        """Stop the running registration; what was shown before stays."""
        if self.job is None:
            return
        self.job.cancel()
        self.job = None
        self._end_progress()
        self.w.statusBar().showMessage("Registration cancelled", 5000)

    def _end_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        if self.w.focusWidget() in (None, self.cancel_button):
            self.w.view.setFocus()  # single-key shortcuts keep working

    def _on_iteration(self, request: int, p) -> None:
        if self.job is None or request != self.job.request:
            return
        self.progress.setRange(0, p.levels)
        self.progress.setValue(p.level)
        self.w.statusBar().showMessage(
            f"Registering: level {p.level + 1}/{p.levels}, iteration {p.iteration + 1}, "
            f"metric {p.metric:.4f}")

    def _on_failed(self, request: int, message: str) -> None:
        if self.job is None or request != self.job.request:
            return
        self.job = None
        self._end_progress()
        self.w.report_problem(f"Registration: {message}")

    def _on_finished(self, request: int, reg: Registered) -> None:
        if self.job is None or request != self.job.request:
            return
        self.job = None
        self._end_progress()
        self.current = reg
        self._checked.add((reg.fixed.uid, reg.moving.uid))
        r = reg.result
        if r is not None:
            text = (f"{reg.moving.label} onto {reg.fixed.label} ({r.kind}): Mattes MI "
                    f"{r.metric_before:.4f} before, {r.metric_after:.4f} after (lower is "
                    f"better); {r.iterations} iterations, {reg.seconds:.1f} s")
        else:
            text = (f"{reg.moving.label} onto {reg.fixed.label}: saved registration "
                    f"({reg.saved_path.rsplit('/', 1)[-1] if reg.saved_path else ''})")
        self.panel.summary.setText(text)
        self.panel.save.setEnabled(r is not None)
        self.dock.show()
        self.update_quality()
        self.w.statusBar().showMessage(text, 10000)
        self.w._sync_position_from(self.w.view)

    # ------------------------------------------------------------------ using it

    def map_point(self, src, dst, point):
        """``point`` (patient LPS mm) read in view ``src`` → the same anatomy for view
        ``dst``: through the registration when the two show its pair and scrolling is linked,
        else unchanged (scanner coordinates)."""
        reg = self.current
        if reg is None or not self.panel.link.isChecked() or src.pixels is None \
                or dst.pixels is None:
            return point
        a, b = src.pixels.stack.uid, dst.pixels.stack.uid
        if (a, b) == (reg.fixed.uid, reg.moving.uid):
            m = reg.fixed_to_moving
        elif (a, b) == (reg.moving.uid, reg.fixed.uid):
            m = reg.moving_to_fixed
        else:
            return point
        return tuple(float(x) for x in (m @ np.array([*np.asarray(point, float), 1.0]))[:3])

    def fixed_slice(self) -> tuple[str, int] | None:
        """(plane, index) of the fixed series being read: as the active (else a shown) view
        of the fixed series shows it, or the acquired slice that matches a view of the moving
        series through the registration; None when that lies outside the fixed series."""
        reg = self.current
        views = [self.w.view, *self.w.visible_views()]
        for v in views:
            if v.pixels is not None and v.pixels.stack.uid == reg.fixed.uid:
                return (v.plane if v.has_reformat else ACQUIRED), v.index
        for v in views:
            if v.pixels is not None and v.pixels.stack.uid == reg.moving.uid \
                    and v.plane == ACQUIRED:
                k = matching_slice(reg.moving, v.index, reg.fixed, reg.moving_to_fixed)
                return None if k is None else (ACQUIRED, k)
        return ACQUIRED, reg.fixed.n_frames // 2

    def update_quality(self) -> None:
        """The quality view of the fixed image being read (any plane: both volumes are on
        the fixed grid, so they reformat alike)."""
        reg = self.current
        if reg is None or not self.dock.isVisible():
            return
        at = self.fixed_slice()
        if at is None:
            self.panel.caption.setText("This slice lies outside the fixed series")
            return
        plane, k = at
        if plane == ACQUIRED:
            a, b, spacing = reg.fixed_real[k], reg.on_fixed[k], tuple(reg.fixed.spacing[1:])
            n = reg.fixed.n_frames
        else:
            r = reformat_of(reg.fixed)
            a, b = r.plane(reg.fixed_real, plane, k), r.plane(reg.on_fixed, plane, k)
            spacing, n = r.pixel_spacing(plane), r.n_slices(plane)
        where = "slice" if plane == ACQUIRED else plane
        self.panel.show_slice(a, b, f"{reg.fixed.label} {where} {k + 1}/{n} with "
                              f"{reg.moving.label} ({self.panel.mode.currentText().lower()})",
                              spacing)

    def save(self) -> None:
        """Save registration: the Spatial Registration object, in the background."""
        reg = self.current
        root = study_dir_of(self.w, reg.fixed) if reg is not None else None
        if reg is None or root is None:
            return
        from viewer.registration.sro import save_registration

        desc = f"{reg.moving.label} to {reg.fixed.label}"
        self._request += 1
        job = CallJob(self._request, lambda: save_registration(root, reg.fixed, reg.moving,
                                                               reg.moving_to_fixed, desc))
        job.finished.connect(lambda _r, path: self._on_saved(reg, str(path)))
        job.failed.connect(lambda _r, msg: self.w.report_problem(
            f"Registration not saved: {msg}"))
        self._keep(job)
        job.start()

    def _on_saved(self, reg: Registered, path: str) -> None:
        reg.saved_path = path
        self.w.statusBar().showMessage(f"Registration saved ({path.rsplit('/', 1)[-1]})", 8000)

    def _keep(self, job: CallJob) -> None:
        self._side_jobs = [j for j in self._side_jobs if j.is_running] + [job]

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait for the registration and its side jobs (tests)."""
        jobs = [*self._side_jobs, *([self.job] if self.job is not None else [])]
        return all(j.wait(timeout) for j in jobs)

    # ------------------------------------------------------------------ saved registrations

    def _on_shown(self) -> None:
        """A pair of series shown side by side: its saved registration, if any, is used."""
        if new_study(self, self.w):  # another study: the old registration no longer applies
            self._checked.clear()
            if self.current is not None and self.w._stack_by_uid(self.current.fixed.uid) \
                    is None:
                self.current = None  # its volumes go too
                self.panel.clear()
                self.dock.hide()
        stacks = [v.pixels.stack for v in self.w.visible_views() if v.pixels is not None]
        for a in stacks:
            for b in stacks:
                pair = (a.uid, b.uid)
                if a is b or pair in self._checked or (b.uid, a.uid) in self._checked:
                    continue
                self._checked.add(pair)
                self._look_up(a, b)

    def _look_up(self, a, b) -> None:
        from viewer.registration.sro import find_registrations

        roots = (study_dir_of(self.w, a), study_dir_of(self.w, b))

        def run():
            for fixed, moving, root in ((a, b, roots[0]), (b, a, roots[1])):
                found = find_registrations(root, fixed, moving) if root else []
                if found:
                    return fixed, moving, found[0]
            return None

        self._request += 1
        job = CallJob(self._request, run)
        job.finished.connect(self._on_found)
        self._keep(job)
        job.start()

    def _on_found(self, _request: int, found) -> None:
        if found is None or self.job is not None:
            return  # none saved, or the user is registering now
        fixed, moving, saved = found
        if self.current is not None and {self.current.fixed.uid, self.current.moving.uid} \
                == {fixed.uid, moving.uid}:
            return
        self.start(fixed, moving, matrix=np.linalg.inv(saved.moving_to_fixed),
                   saved_path=saved.path)
        self.w.statusBar().showMessage(f"Using the saved registration of {moving.label} onto "
                                       f"{fixed.label}", 8000)


def install(window) -> RegistrationController:
    """Give ``window`` Tools ▸ Register series… and the Registration dock, as
    ``window.registration`` (view_sync maps linked scrolling through it)."""
    window.registration = RegistrationController(window)
    return window.registration
