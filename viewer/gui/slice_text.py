"""Text of the slice view: corner text, orientation letters, notices and the cursor readout.

A mixin of :class:`viewer.gui.slice_view.SliceView` (it uses the view's pixels, plane, index,
window, shown slice and geometry). What the corners say is decided in the core
(:func:`viewer.display.annotate.corner_text`); this module places it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from viewer.dicom.volumes import volume_series
from viewer.display.annotate import corner_text
from viewer.gui.corner_label import OutlinedLabel, layout_corners
from viewer.gui.slice_items import ACQUIRED


class SliceText:
    """Corner labels, edge letters, the notice and the value under the cursor (a mixin)."""

    # ------------------------------------------------------------------ setup

    def _label(self, key: str, big: bool = False) -> OutlinedLabel:
        lab = OutlinedLabel(self, 15 if big else 12, bold=big)
        align = {
            "tl": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            "tr": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
            "bl": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
            "br": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
        }.get(key, Qt.AlignmentFlag.AlignCenter)
        lab.setAlignment(align)
        return lab

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        w, h, m = self.width(), self.height(), 6
        self._edge["left"].setGeometry(m, h // 2 - 12, 40, 24)
        self._edge["left"].setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._edge["right"].setGeometry(w - 40 - m, h // 2 - 12, 40, 24)
        self._edge["right"].setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # Narrow views (1x3 layout): the top letter goes below the corner text.
        self._edge["top"].setGeometry(w // 2 - 30, m + (52 if w < 640 else 16), 60, 24)
        self._edge["bottom"].setGeometry(w // 2 - 30, h - m - 40, 60, 24)
        for lab in self._edge.values():
            lab.raise_()
        self._notice.setGeometry(m + 20, h // 2 - 60, max(40, w - 2 * m - 40), 120)
        self._notice.raise_()
        self._update_text()
        self._update_bar()

    # ------------------------------------------------------------------ text

    def set_show_patient_details(self, on: bool) -> None:
        self.show_patient_details = on
        self._update_text()

    def _update_text(self) -> None:
        if self.pixels is None:
            for lab in (*self._corner.values(), *self._edge.values(), self._notice):
                lab.setText("")
            self._bar.hide()
            return
        self._notice.setText(self.problem() if self._shown is not None else "")
        st = self.pixels.stack
        h = st.first
        plane = st.plane.lower() if self.plane == ACQUIRED else self.plane
        vs = volume_series(st)  # a volume of a 4-D series: series title, volume line below
        label = vs.label if vs is not None else st.label
        title = label if label.startswith(h.modality) else f"{h.modality} {label}"
        text = corner_text(
            h, title=title, plane=plane, index=self.display_position(), n_slices=self.n_slices,
            position_mm=self.position_mm(), window=self.window, spacing=self._spacing(),
            transform=self.transform, zoom=self.zoom_factor(), loading=self._shown is None,
            include_patient=self.show_patient_details, calibration=self.calibration(),
            instance_number=(st.frames[self.index].header.instance_number
                             if self.plane == ACQUIRED else None),
            narrow=self.width() < 420)  # 1x3 layout: short lines that do not collide
        if vs is not None:
            i = vs.index_of(st)
            text["tr"].insert(1, f"vol {i + 1}/{vs.count}  {vs.labels[i]}")
        if self.slab_active:
            text["tr"].append(self.slab_text())
        text["bl"][1:1] = self.suv_corner_lines()
        layout_corners(self._corner, text, self.width(), self.height())
        letters = self.edge_letters()
        for k, lab in self._edge.items():
            lab.setText(letters.get(k, ""))

    def leaveEvent(self, ev):  # noqa: N802
        self._cursor_scene_pos = None  # no value to refresh once the cursor has left
        super().leaveEvent(ev)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._cursor_scene_pos = QPointF(scene_pos)
        if self._shown is None or self.pixels is None:
            return
        x, y = self.view_to_source(self.viewbox.mapSceneToView(scene_pos))
        col, row = int(np.floor(x)), int(np.floor(y))
        img = self._shown
        if not (0 <= row < img.shape[0] and 0 <= col < img.shape[1]):
            self.cursor_moved.emit("")
            return
        if img.ndim == 3:
            value = "RGB " + " ".join(str(int(v)) for v in img[row, col])
        else:
            value = self.value_text(float(self._real(img[row : row + 1, col : col + 1])[0, 0]))
            if self.slab_active:
                value += f"  ({self.slab_text().split(' (')[0]})"
        xyz = self.patient_coordinates(row, col)
        where = f"  ({xyz[0]:.1f}, {xyz[1]:.1f}, {xyz[2]:.1f}) mm LPS" if xyz is not None else ""
        self.cursor_moved.emit(f"row {row} col {col}: {value}{where}")
