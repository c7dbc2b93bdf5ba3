"""Comparison with a prior study: File ▸ Open as comparison… scans a second folder (in the
background) into the same window; the compare layout puts current and prior series of the
same kind side by side (matched by modality, plane and description), linked by position."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog

from viewer.dicom.catalog import Catalog
from viewer.display.viewport import match_series
from viewer.gui.window_opening import record_opens
from viewer.gui.workers import ScanJob
from viewer.logs import remember_catalog, remember_root


def series_kind(stack) -> tuple[str, str, str]:
    """(modality, acquired plane, description) that pairs a series with its prior."""
    h = stack.first
    desc = " ".join((h.series_description or stack.label).lower().split())
    return h.modality, stack.plane.lower(), desc


def same_patient(a: Catalog, b: Catalog) -> bool:
    """Whether two scanned studies share a patient: by Patient ID where both have one, else
    by name (case and separators ignored); True when neither says (de-identified copies)."""
    def ids(c: Catalog) -> set[str]:
        return {p.patient_id.strip() for p in c.patients if p.patient_id.strip()}

    def names(c: Catalog) -> set[str]:
        return {" ".join(p.name.replace("^", " ").upper().split()) for p in c.patients
                if p.name.strip()}

    for key in (ids, names):
        ka, kb = key(a), key(b)
        if ka and kb:
            return bool(ka & kb)
    return True


class CompareMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: a prior study beside this one."""

    prior_catalog: Catalog | None = None
    _prior_scan: ScanJob | None = None

    def choose_comparison_folder(self) -> None:
        if self.catalog is None:
            self.statusBar().showMessage("Open a study first, then its prior.", 6000)
            return
        start = self.settings.value("last_folder", os.path.expanduser("~"))
        path = QFileDialog.getExistingDirectory(self, "Open a prior study to compare",
                                                str(start))
        if path:
            self.open_comparison(path)

    def open_comparison(self, path: str) -> None:
        """Scan ``path`` in the background as the prior study; the compare layout follows."""
        remember_root(path)
        if self._prior_scan is not None:
            self._prior_scan.cancel()
        self._request += 1
        job = ScanJob(self._request, path)
        job.finished.connect(self._on_prior_scanned)
        job.failed.connect(self._on_background_failed)
        self._prior_scan = job
        self.statusBar().showMessage(f"Scanning the prior study in {path}…")
        job.start()

    def _on_prior_scanned(self, request: int, catalog: Catalog) -> None:
        if self._prior_scan is None or request != self._prior_scan.request:
            return
        self._prior_scan = None
        remember_catalog(catalog)
        record_opens(catalog)  # a prior is opened too: the audit trail says so
        self.prior_catalog = catalog
        n = self.compare_layout()
        self.statusBar().showMessage(
            f"Prior study: {len(catalog.stacks())} series, {n} matched to this study"
            if n else "The prior study has no series of the same kind as this one", 8000)
        if self.catalog is not None and not same_patient(self.catalog, catalog):
            # A wrong-patient comparison must not pass unnoticed (no name or ID in the text).
            self.report_problem("⚠ The comparison study is of another patient (Patient ID or "
                                "name differs from this study's): check before comparing")

    def compare_pairs(self) -> list[tuple]:
        """(current stack, prior stack) pairs of the same kind, current study order."""
        if self.catalog is None or self.prior_catalog is None:
            return []
        cur, pri = self.catalog.stacks(), self.prior_catalog.stacks()
        return [(cur[i], pri[j]) for i, j in match_series(cur, pri, series_kind)]

    def compare_layout(self) -> int:
        """Current left, prior right: one pair in 1×2, two pairs in 2×2 (the active series'
        pair first); scrolling is linked by position. Returns the number of pairs shown."""
        pairs = self.compare_pairs()
        if not pairs:
            return 0
        active = self.view.pixels.stack.uid if self.view.pixels is not None else None
        pairs.sort(key=lambda p: p[0].uid != active)
        pairs = pairs[:2]
        self.set_layout("1x2" if len(pairs) == 1 else "2x2")
        self._syncing = True
        try:
            for n, (cur, pri) in enumerate(pairs):
                left = self._put(2 * n, cur)
                self._put(2 * n + 1, pri, left.plane)
        finally:
            self._syncing = False
        self._stop_unused_loads()
        self.set_sync("position", "sync_position", True)
        # The prior shows its middle slice, not the anatomy read here: Frames of Reference are
        # first lined up by the volumes' centres (view_sync._frame_offset), not by what is shown.
        self.__dict__.setdefault("_frame_offsets", {}).clear()
        for n in range(len(pairs)):
            self._sync_position_from(self.all_views[2 * n])
        self.set_active_view(0)
        self._update_titles()
        self._update_references()
        return len(pairs)
