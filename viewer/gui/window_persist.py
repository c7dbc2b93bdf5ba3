"""Work that lasts, in the window: the measurements drawn on a series are saved as a DICOM
TID 1500 measurement report and its flagged key images as a Key Object Selection document
(:mod:`viewer.persist`), and both come back when the study is opened again.

Saving happens on File ▸ Save measurements (Ctrl+S) and, for series whose work changed, when
the series leaves its viewport, when another study is opened, and when the window closes. Each
change takes a snapshot of that series' work (its stack, study folder and annotations), so the
window may clear its measurement store (a new study) before the save runs; the writes run off
the GUI thread (an SR takes ~0.1-0.3 s), except on close, where they finish before the window
goes. A failed save is one line in the Problems panel and the work stays pending (nothing lost).

The window owns one :class:`PersistController` (``window.persist``); it listens to the views'
``measurements_changed`` and ``image_shown`` signals and needs no other hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shiboken6
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QKeySequence

from viewer.display import shapes as shown_shapes
from viewer.display.measure import KINDS as SHOWN_KINDS
from viewer.display.measure import Measurement
from viewer.errors import ViewerError
from viewer.gui.corner_label import OutlinedLabel
from viewer.gui.slice_view import ACQUIRED
from viewer.gui.workers import CallJob
from viewer.persist.shapes import Annotation

KEY_MARK = "★ Key image"


@dataclass
class Pending:
    """The unsaved work of one stack: what gets written, taken when it changed."""

    stack: object
    study_dir: str
    pixels: object  # StackPixels, for ROI statistics in the report
    annotations: list[Annotation] = field(default_factory=list)
    keys: set[int] = field(default_factory=set)


def catalog_of(window, stack):
    """The catalog ``stack`` belongs to: the window's study, or the prior opened beside it."""
    prior = getattr(window, "prior_catalog", None)
    if prior is not None and any(s is stack for s in prior.stacks()):
        return prior
    return window.catalog


def study_dir_of(window, stack) -> str | None:
    """The study folder of ``stack`` (where its saved work goes), or None."""
    catalog = catalog_of(window, stack)
    return catalog.root if catalog is not None else None


def new_study(part, window) -> bool:
    """Whether ``window`` opened another study since ``part`` last looked (its catalog
    changed with a new open request; a scan's partial catalogs share one request, and
    opening a prior beside the study leaves the catalog as it is)."""
    catalog, request = window.catalog, getattr(window, "_request", 0)
    if catalog is part._catalog:
        return False
    new = part._catalog is None or request != part._catalog_request
    part._catalog, part._catalog_request = catalog, request
    return new


def store_items(store):
    """``((stack uid, plane, index), [Measurement, ...])`` pairs of a MeasurementStore."""
    return list(store._by_key.items())  # noqa: SLF001 - MeasurementStore has no public walk


def to_annotation(key, m: Measurement) -> Annotation:
    """The saved form of the window's measurement ``m`` on slice ``key``."""
    _uid, plane, index = key
    pts = m.pts
    if m.kind == "cobb":  # the SR's angle between the lines as drawn is the Cobb angle shown
        pts = shown_shapes.cobb_as_drawn_acute(pts)
    return Annotation(m.kind, int(index), tuple(pts), text=m.text, plane=plane)


def from_annotation(a: Annotation) -> Measurement | None:
    """The window's measurement of a saved annotation; None for one it cannot draw."""
    if a.kind not in SHOWN_KINDS:
        return None
    return Measurement.of(a.kind, a.points, a.text)


def save_pending(p: Pending) -> str:
    """(worker) Write ``p``'s measurement report and key images; returns a status line."""
    from viewer.persist.key_images import file_name as ko_name
    from viewer.persist.key_images import save_key_images
    from viewer.persist.location import existing
    from viewer.persist.measurements import pixel_images, save_measurements

    if any(a.plane != ACQUIRED for a in p.annotations):
        p.pixels.load_volume()  # reformatted planes read the volume (cached when shown)
    save_measurements(p.study_dir, p.stack, p.annotations, pixel_images(p.pixels))
    if p.keys:
        save_key_images(p.study_dir, p.stack, sorted(p.keys))
    else:  # nothing flagged any more: the earlier selection goes
        for folder in existing(p.study_dir):
            try:
                (folder / ko_name(p.stack)).unlink(missing_ok=True)
            except OSError as exc:
                raise ViewerError(f"{folder / ko_name(p.stack)}: cannot remove the earlier key "
                                  f"images ({exc.strerror})") from exc
    n = len(p.annotations)
    return (f"Saved {n} measurement{'s' if n != 1 else ''} and {len(p.keys)} key "
            f"image{'s' if len(p.keys) != 1 else ''} of {p.stack.label}")


def load_saved(catalog, stack) -> tuple[list[Annotation], list[int]]:
    """(worker) The annotations and key images saved for ``stack`` in ``catalog``'s study."""
    from viewer.persist.key_images import load_key_images
    from viewer.persist.measurements import load_measurements

    return load_measurements(catalog, stack), load_key_images(catalog, stack)


class PersistController(QObject):
    """Saving and restoring the measurements and key images of one main window."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.pending: dict[str, Pending] = {}  # stack uid -> unsaved work
        self.keys: dict[str, set[int]] = {}  # stack uid -> flagged slices (acquired order)
        self._extra: dict[str, list[Annotation]] = {}  # kinds this window cannot draw: kept
        self._loaded: set[str] = set()  # stacks whose saved work was asked for
        self._catalog = None
        self._catalog_request = -1
        self._generation = 0  # counts the studies opened: late loads of an old one are dropped
        self._shown: dict[int, str | None] = {}  # view index -> stack uid it shows
        self._saves: dict[str, CallJob] = {}  # stack uid -> its running save
        self._jobs: list[CallJob] = []
        self._request = 0
        self.save_action = window.add_action("&File", "Save &measurements", self.save_all,
                                             QKeySequence.StandardKey.Save,
                                             before="Search &archive…")
        self.key_action = window.add_action("&Measure", "Flag &key image", self.toggle_key, "K",
                                            checkable=True)
        self._marks = {}
        for i, v in enumerate(window.all_views):
            v.measurements_changed.connect(lambda v=v: self._on_changed(v))
            v.image_shown.connect(lambda i=i, v=v: self._on_shown(i, v))
            v.slice_changed.connect(lambda _k, v=v: self._update_mark(v))
            mark = OutlinedLabel(v, 13, bold=True)
            mark.colour = QColor(255, 200, 40)  # amber: apart from the khaki corner text
            mark.setText(KEY_MARK)
            mark.hide()
            self._marks[id(v)] = mark
            v.installEventFilter(self)  # the mark stays centred when the view resizes
        window.installEventFilter(self)

    # ------------------------------------------------------------------ helpers

    def _study_dir(self, stack) -> str | None:
        return study_dir_of(self.w, stack)

    def _catalog_of(self, stack):
        return catalog_of(self.w, stack)

    def annotations_of(self, uid: str) -> list[Annotation]:
        """Everything saved for stack ``uid``: the store's measurements and kept others."""
        out = [to_annotation(k, m) for k, ms in store_items(self.w.measurements)
               if k[0] == uid for m in ms]
        return out + list(self._extra.get(uid, ()))

    def _snapshot(self, v) -> None:
        stack = v.pixels.stack
        root = self._study_dir(stack)
        if root is None:
            return
        self.pending[stack.uid] = Pending(stack, root, v.pixels, self.annotations_of(stack.uid),
                                          set(self.keys.get(stack.uid, ())))

    # ------------------------------------------------------------------ events

    def _on_changed(self, v) -> None:
        if v.pixels is not None:
            self._snapshot(v)

    def _on_shown(self, i: int, v) -> None:
        if new_study(self, self.w):  # the last study's work goes, the store was cleared
            self.flush()
            self._generation += 1
            self.keys.clear()
            self._extra.clear()
            self._loaded.clear()
        uid = v.pixels.stack.uid if v.pixels is not None else None
        before = self._shown.get(i)
        self._shown[i] = uid
        if before is not None and before != uid and before in self.pending and \
                before not in self._shown.values():
            self.flush([before])  # the series left its (last) viewport
        if uid is not None and uid not in self._loaded:
            self._loaded.add(uid)
            self._load(v.pixels.stack)
        self._update_mark(v)

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt name)
        if obj is self.w and ev.type() == QEvent.Type.Close:
            self.flush(wait=True)  # before the window's jobs are stopped
        elif ev.type() == QEvent.Type.Resize and id(obj) in self._marks:
            self._update_mark(obj)
        return False

    # ------------------------------------------------------------------ loading

    def _load(self, stack) -> None:
        catalog = self._catalog_of(stack)
        if catalog is None:
            return
        earlier = self._saves.get(stack.uid)

        def run():
            if earlier is not None:
                earlier.wait(30.0)  # this series' last save first: read what it wrote
            return load_saved(catalog, stack)

        self._request += 1
        job = CallJob(self._request, run)
        job.finished.connect(lambda _r, out, s=stack, g=self._generation:
                             self._on_loaded(g, s, *out))
        job.failed.connect(lambda _r, msg: self.w.report_problem(msg))
        self._keep(job)
        job.start()

    def _on_loaded(self, generation: int, stack, annotations, keys) -> None:
        if generation != self._generation:
            return  # another study was opened meanwhile
        if not annotations and not keys:
            return  # nothing was saved (the usual first open): the views need no redraw
        if not shiboken6.isValid(self):
            return  # the window went while the files were read
        uid = stack.uid
        extra = []
        for a in annotations:
            m = from_annotation(a)
            if m is not None:
                self.w.measurements.add((uid, a.plane, a.slice_index), m)
            else:
                extra.append(a)
        self._extra[uid] = extra
        self.keys[uid] = set(keys) | self.keys.get(uid, set())
        for v in self.w.all_views:
            if v.pixels is not None and v.pixels.stack.uid == uid:
                if uid in self.pending:
                    self._snapshot(v)  # drawn before the saved work came in: keep both
                v._items_key = None  # noqa: SLF001 - redraw the slice's items from the store
                v.refresh()
                self._update_mark(v)
        if annotations or keys:
            self.w.statusBar().showMessage(
                f"Restored {len(annotations)} measurement(s) and {len(keys)} key image(s) of "
                f"{stack.label}", 6000)

    # ------------------------------------------------------------------ saving

    def save_all(self) -> None:
        """File ▸ Save measurements: the shown series' work (even unchanged) and all pending."""
        for v in self.w.visible_views():
            if v.pixels is not None and v.pixels.stack.uid in self._loaded:
                self._snapshot(v)
        if not self.pending:
            self.w.statusBar().showMessage("No measurements to save.", 4000)
            return
        self.flush()

    def flush(self, uids=None, wait: bool = False) -> None:
        """Write the pending work of ``uids`` (default all): in the background, or now when
        ``wait`` (closing the window)."""
        for uid in list(self.pending if uids is None else uids):
            p = self.pending.pop(uid, None)
            if p is None:
                continue
            if wait:
                try:
                    save_pending(p)
                except (ViewerError, ValueError, OSError) as exc:
                    self._failed(p, str(exc))
                continue
            self._request += 1
            job = CallJob(self._request, lambda p=p: save_pending(p))
            job.finished.connect(lambda _r, msg: self.w.statusBar().showMessage(msg, 6000))
            job.failed.connect(lambda _r, msg, p=p: self._failed(p, msg))
            self._saves[uid] = job
            self._keep(job)
            job.start()

    def _failed(self, p: Pending, message: str) -> None:
        self.pending.setdefault(p.stack.uid, p)  # kept: saved again next time
        try:
            self.w.report_problem(f"Measurements of {p.stack.label} not saved: {message} "
                                  "(they stay open; File ▸ Save measurements tries again)")
        except RuntimeError:  # the window is gone (failure while closing)
            pass

    def _keep(self, job: CallJob) -> None:
        self._jobs = [j for j in self._jobs if j.is_running] + [job]

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for every running save and load (tests)."""
        return all(j.wait(timeout) for j in list(self._jobs))

    # ------------------------------------------------------------------ key images

    def toggle_key(self, *_checked) -> None:
        """Measure ▸ Flag key image (K): flags or unflags the active view's slice (acquired
        plane)."""
        v = self.w.view
        if v.pixels is None or v.plane != ACQUIRED:
            self.w.statusBar().showMessage("Key images are slices of the acquired plane: switch "
                                           "to it (Ctrl+1) to flag one.", 6000)
            self._update_mark(v)
            return
        uid = v.pixels.stack.uid
        keys = self.keys.setdefault(uid, set())
        (keys.discard if v.index in keys else keys.add)(v.index)
        self._snapshot(v)
        for other in self.w.all_views:
            self._update_mark(other)

    def is_key(self, v) -> bool:
        return (v.pixels is not None and v.plane == ACQUIRED
                and v.index in self.keys.get(v.pixels.stack.uid, ()))

    def _update_mark(self, v) -> None:
        mark = self._marks.get(id(v))
        if mark is None:
            return
        on = self.is_key(v)
        mark.setVisible(on)
        if on:
            mark.resize(mark.fontMetrics().horizontalAdvance(KEY_MARK) + 8,
                        mark.fontMetrics().height() + 4)
            mark.move((v.width() - mark.width()) // 2, 4)  # above the top edge letter
            mark.raise_()
        if v is self.w.view:
            self.key_action.setChecked(on)


def install(window) -> PersistController:
    """Give ``window`` its measurements-that-last part, as ``window.persist``."""
    window.persist = PersistController(window)
    return window.persist
