"""The main window's AI part: the model picker, Analyze/Cancel in the background, results
per series and their overlay in every view."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog

from viewer.dicom.reformat import PLANES
from viewer.export.compose import label_lut
from viewer.gui import memory
from viewer.gui.preferences import KEY_MODEL_FOLDER
from viewer.gui.slice_view import ACQUIRED
from viewer.gui.workers import AnalyzeJob


class AIMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: AI analysis and results."""

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

        px = self.view.pixels  # the active viewport's series
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
        """Run ``entry`` on the active viewport's stack in the background; the viewer stays
        usable."""
        px = self.view.pixels
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
        running = self._analyze is not None
        if running:
            self._analyze.cancel()
        self._end_analysis()
        if running:  # replaces the lasting "Analyzing …" message
            self.statusBar().showMessage("Analysis cancelled", 5000)

    def _end_analysis(self) -> None:
        self._analyze = None
        had_focus = self.analyze_cancel.hasFocus()
        self.analyze_progress.hide()
        self.analyze_cancel.hide()
        if had_focus or self.focusWidget() is None:
            self.view.setFocus()  # not the next widget in the chain (the cine rate box)

    def _on_analyze_progress(self, request: int, done: int, total: int) -> None:
        if self._analyze is not None and request == self._analyze.request:
            self.analyze_progress.setValue(int(100 * done / max(total, 1)))
            self.analyze_progress.setToolTip(self._analyze.stage)

    def _on_analyzed(self, request: int, result) -> None:
        if self._analyze is None or request != self._analyze.request:
            return
        self._end_analysis()
        self._audit_analysis(result.stack_uid, "flagged" if result.flags else "ok",
                             labels=len(result.labels))
        self.results[result.stack_uid] = result  # the result stays with its series
        self.statusBar().showMessage(f"{result.title} finished on {result.stack_label} in "
                                     f"{result.timings_s['total']:.1f} s", 8000)
        if self.view.pixels is not None and self.view.pixels.stack.uid == result.stack_uid:
            self._show_result_of(result.stack_uid)

    def _on_analyze_failed(self, request: int, message: str) -> None:
        if self._analyze is None or request != self._analyze.request:
            return
        self._audit_analysis(self._analyze.pixels.stack.uid, "failed")
        self._end_analysis()
        self.report_problem(message)

    def _audit_analysis(self, stack_uid: str, outcome: str, **counts: int) -> None:
        """The audit trail's "analyze" entry (the study hashed), as ``radviewer analyze``
        writes it."""
        from viewer.audit import record

        stack = self._stack_by_uid(stack_uid)
        record("analyze", study_uid=stack.first.study_uid if stack is not None else None,
               outcome=outcome, **counts)

    def _show_result_of(self, stack_uid: str) -> None:
        result = self.results.get(stack_uid)
        self.result_panel.set_result(result)
        if result is not None:
            self.results_dock.show()
        self._apply_overlay()
        self._show_slice_scores()

    def _apply_overlay(self) -> None:
        """Every viewport shows its own series' result: the one in the AI dock with the
        dock's style, the others with all labels at the dock's opacity."""
        result = self.result_panel.result
        panel = self.result_panel
        for v in self.all_views:
            r = self.results.get(v.pixels.stack.uid) if v.pixels is not None else None
            if (r is None or r.label_volume is None or not panel.show_overlay.isChecked()):
                v.set_overlay(None)
                continue
            if r is result:
                lut = label_lut(r, panel.visible_labels(), panel.opacity.value() / 100,
                                panel.colors)
            else:
                lut = label_lut(r, {lab.value for lab in r.labels}, panel.opacity.value() / 100)
            v.set_overlay(r.label_volume, lut, panel.outline.isChecked())

    def _show_slice_scores(self) -> None:
        v = self.view
        r = self.result_panel.result
        if r is None or r.slice_scores is None or v.pixels is None:
            return
        self.result_panel.show_slice_scores(v.index if v.plane == ACQUIRED else None)

    def clear_result(self) -> None:
        px = self.view.pixels
        if px is not None and self.results.pop(px.stack.uid, None) is not None:
            self.runner.forget(px.stack.uid)
        self._show_result_of(px.stack.uid if px is not None else "")
        memory.give_back()  # the result's buffers go back to the system

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
