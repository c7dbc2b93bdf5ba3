"""Reading modes of the slice view: thick slab, PET SUV, colour maps and PET/CT fusion.

A mixin of :class:`viewer.gui.slice_view.SliceView` (it uses the view's pixels, plane, index,
window and items). The arithmetic lives in the core (:mod:`viewer.display.slab`,
:mod:`viewer.dicom.pet`, :mod:`viewer.display.colormaps`, :mod:`viewer.display.fusion`); this
module only decides what to show. Keyboard (the window's actions call these): T cycles the slab
thickness (off, 5, 10, 20, 40 mm), Shift+T the slab mode (MIP, MinIP, average), C the colour
map; the fusion overlay's opacity is :meth:`SliceModes.set_fusion_opacity`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QLabel

from viewer.dicom import pet
from viewer.dicom.pixels import StackPixels, to_real_volume
from viewer.display import fusion
from viewer.display.colormaps import COLORMAPS, colormap_lut, colour_bar
from viewer.display.slab import SlabMode, SlabProjector, slab_count
from viewer.display.suv_window import SUV_DEFAULT, suv_window
from viewer.display.window import Window, apply_window, auto_window, linear_bounds
from viewer.errors import ViewerError

SLAB_STEPS_MM = (0.0, 5.0, 10.0, 20.0, 40.0)
_UNITS = {"BQML": "Bq/ml", "CNTS": "counts", "GML": "g/ml"}


class SliceModes:
    """Thick slab, SUV, colour map and fusion state of one slice view (a mixin)."""

    def _init_modes(self) -> None:
        self.slab_mode = SlabMode.MIP
        self.slab_thickness_mm = 0.0  # 0: off
        self.colormap = "grey"
        self.suv_factor: float | None = None  # real value (Bq/ml) x factor = SUVbw
        self.suv_problem = ""  # why a PET shows no SUV (one line), "" otherwise
        self.pet_units = ""  # Units (0054,1001) as read: "Bq/ml", ...
        self._projector: SlabProjector | None = None
        self._slab_vol: np.ndarray | None = None
        self._suv_vol: np.ndarray | None = None  # PET volume in SUV (float32), for SUVpeak
        self.fusion_pixels: StackPixels | None = None
        self.fusion_opacity = 0.5
        self.fusion_colormap = "hot iron"
        self._fusion_values: np.ndarray | None = None  # moving volume, SUV or real, float32
        self._fusion_window: tuple[float, float] = SUV_DEFAULT
        self._fusion_unit = ""  # "SUV" when the fused PET is shown in SUV
        # PET over CT: between the slice and the AI labels (labels and measurements on top).
        self.fusion_item = pg.ImageItem(axisOrder="row-major")
        self.fusion_item.setZValue(0.5)
        self.viewbox.addItem(self.fusion_item)
        self._bar = QLabel(self)
        self._bar.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._bar.hide()
        self._cursor_scene_pos = None  # last mouse position over the view (scene coords)

    def _reset_modes(self) -> None:
        """A new stack: no slab cache, SUV read again from its header, no fusion."""
        self._projector, self._slab_vol, self._suv_vol = None, None, None
        self.suv_factor, self.suv_problem, self.pet_units = None, "", ""
        self.sul_factor: float | None = None  # real value x factor = SUL (Janmahasatian)
        st = self.pixels.stack if self.pixels is not None else None
        if st is not None and st.first.modality == "PT":
            try:
                params = pet.read_suv_parameters(st)
                self.pet_units = _UNITS.get(params.units, params.units)
                self.suv_factor = pet.suv_bw_factor(params)
            except pet.SuvError as exc:
                self.suv_problem = str(exc)
            else:
                try:  # SUL (lean body mass) where the header gives height and sex too
                    self.sul_factor = pet.suv_lbm_factor(params)
                except (pet.SuvError, ValueError):
                    self.sul_factor = None
        self.set_fusion(None)

    # ------------------------------------------------------------------ slab

    @property
    def slab_active(self) -> bool:
        """Whether the shown plane is a slab of more than one slice."""
        px = self.pixels
        if px is None or self.slab_thickness_mm <= 0 or len(px.frame_shape) != 2 \
                or px.stack.n_frames < 2:
            return False
        spacing = self._slab_spacing()
        return spacing is not None and slab_count(self.slab_thickness_mm, spacing) > 1

    def _slab_plane(self) -> str:
        return self.plane if self._reformat is not None and self.plane != "acquired" \
            else "acquired"

    def _slab_spacing(self) -> float | None:
        plane = self._slab_plane()
        if plane != "acquired":
            return self._reformat.slice_spacing(plane)
        sp = self.pixels.stack.spacing
        return float(sp[0]) if sp is not None and sp[0] > 0 else None

    def set_slab(self, mode: SlabMode | str | None = None,
                 thickness_mm: float | None = None) -> None:
        """Slab ``mode`` and ``thickness_mm`` (0: off) of this view."""
        if mode is not None:
            self.slab_mode = SlabMode(mode)
        if thickness_mm is not None:
            self.slab_thickness_mm = max(0.0, float(thickness_mm))
        self.refresh()
        self.slab_changed.emit(self.slab_mode.value, self.slab_thickness_mm)

    def cycle_slab_thickness(self) -> None:
        """Off -> 5 -> 10 -> 20 -> 40 mm -> off (key T)."""
        later = [t for t in SLAB_STEPS_MM if t > self.slab_thickness_mm]
        self.set_slab(thickness_mm=later[0] if later else 0.0)

    def cycle_slab_mode(self) -> None:
        """MIP -> MinIP -> average (Shift+T); turns a 10 mm slab on when it is off."""
        modes = list(SlabMode)
        nxt = modes[(modes.index(self.slab_mode) + 1) % len(modes)]
        self.set_slab(nxt, self.slab_thickness_mm or 10.0)

    def _slab_volume(self) -> np.ndarray:
        """The volume in the first slice's stored units: as stored when every slice shares
        one rescale, else float32 re-expressed in the first slice's (PET rescales each)."""
        if self._slab_vol is None:
            px = self.pixels
            vol = px.frame_volume()
            heads = [f.header for f in px.stack.frames]
            h = heads[0]
            same = all(x.modality_lut is None and x.rescale_slope == h.rescale_slope
                       and x.rescale_intercept == h.rescale_intercept for x in heads)
            if not same and h.modality_lut is None and h.rescale_slope > 0:
                real = to_real_volume(vol, heads)
                vol = ((real - np.float32(h.rescale_intercept))
                       / np.float32(h.rescale_slope)).astype(np.float32)
            self._slab_vol = vol
        return self._slab_vol

    def _slab_image(self) -> np.ndarray | None:
        """The slab of the shown plane, or None while the volume is still loading."""
        px = self.pixels
        if not all(px.is_loaded(k) or k in px.failed for k in range(px.stack.n_frames)):
            return None
        vol = self._slab_volume()
        if self._projector is None or self._projector.vol is not vol:
            sp = px.stack.spacing
            self._projector = SlabProjector(vol, self._reformat,
                                            float(sp[0]) if sp is not None else None)
        return self._projector.image(self._slab_plane(), self.index, self.slab_thickness_mm,
                                     self.slab_mode)

    def slab_text(self) -> str:
        if not self.slab_active:
            return ""
        n = slab_count(self.slab_thickness_mm, self._slab_spacing())
        name = {"mip": "MIP", "minip": "MinIP", "average": "Avg"}[self.slab_mode.value]
        return f"{name} {self.slab_thickness_mm:g} mm ({n} slices)"

    # ------------------------------------------------------------------ colour maps

    def set_colormap(self, name: str) -> None:
        """One of :data:`~viewer.display.colormaps.COLORMAPS` for the grey image."""
        colormap_lut(name)  # unknown names raise here
        self.colormap = name
        self._apply_lut()
        self._update_bar()
        self.colormap_changed.emit(name)

    def cycle_colormap(self) -> None:
        """grey -> inverted grey -> hot iron -> rainbow -> grey (key C)."""
        self.set_colormap(COLORMAPS[(COLORMAPS.index(self.colormap) + 1) % len(COLORMAPS)])

    def _coloured(self, table: np.ndarray | None) -> np.ndarray | None:
        """A grey lookup table (uint8 indices; None = identity) through the colour map (grey
        images only: colour images are shown as stored)."""
        if self.colormap == "grey" or (self._shown is not None and self._shown.ndim == 3):
            return table
        lut = colormap_lut(self.colormap)
        return lut if table is None else lut[table]

    def _bar_range(self) -> tuple[str, float, float] | None:
        """(unit, bottom, top) of the colour bar, or None when no bar is shown."""
        if self.fusion_pixels is not None:
            return (self._fusion_unit, *self._fusion_window)
        if self.colormap == "grey" or self.window is None or self._shown is None \
                or self._shown.ndim == 3:
            return None
        lo, hi = linear_bounds(self.window)
        if self.suv_factor is not None:
            return "SUV", lo * self.suv_factor, hi * self.suv_factor
        return "", lo, hi

    def _update_bar(self) -> None:
        rng = self._bar_range()
        if rng is None:
            self._bar.hide()
            return
        unit, lo, hi = rng
        name = self.fusion_colormap if self.fusion_pixels is not None else self.colormap
        h = max(60, min(240, self.height() // 2))
        rgb = colour_bar(name, h, 12)
        img = QImage(rgb.data, 12, h, 36, QImage.Format.Format_RGB888).copy()
        pm = QPixmap(70, h + 28)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.drawImage(56, 14, img)
        p.setPen(QColor(240, 230, 140))
        f = p.font()
        f.setPixelSize(11)
        p.setFont(f)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        p.drawText(QRectF(0, 0, 66, 14), right, f"{hi:.3g} {unit}".strip())
        p.drawText(QRectF(0, h + 14, 66, 14), right, f"{lo:.3g}")
        p.end()
        self._bar.setPixmap(pm)
        # Left of the right-hand orientation letter (40 px wide at the edge).
        self._bar.setGeometry(self.width() - 52 - pm.width(),
                              (self.height() - pm.height()) // 2, pm.width(), pm.height())
        self._bar.show()
        self._bar.raise_()

    def display_rgb(self, real: np.ndarray, invert: bool) -> np.ndarray | None:
        """The shown plane as (rows, cols, 3) uint8 RGB as the screen draws it (window,
        ``invert``, colour map, fusion at its opacity) for exports; None when a grey image
        without fusion (the export windows it itself)."""
        if (self.colormap == "grey" and self._fusion_values is None) or real.ndim != 2 \
                or self.window is None:
            return None
        grey = apply_window(real, self.window)
        if invert:
            grey = 255 - grey
        rgb = colormap_lut(self.colormap)[grey][..., :3].astype(np.float32)
        vals = self.fusion_plane()
        if vals is not None:
            rgba = fusion.colour_overlay(vals, *self._fusion_window,
                                         colormap_lut(self.fusion_colormap))
            a = rgba[..., 3:4].astype(np.float32) * (self.fusion_opacity / 255.0)
            rgb = rgb * (1 - a) + rgba[..., :3] * a
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8)

    # ------------------------------------------------------------------ SUV

    def suv_default_window(self) -> Window | None:
        """SUV 0-5 as a window in real units (Bq/ml), for a PET whose SUV is known."""
        return suv_window(self.suv_factor) if self.suv_factor is not None else None

    def value_text(self, real: float) -> str:
        """A real value as read under the cursor: with its unit, and SUV for PET."""
        h = self.pixels.stack.first
        unit = " HU" if h.modality == "CT" else ""
        if h.modality == "PT":
            unit = f" {self.pet_units}" if self.pet_units else ""
        text = f"{real:.0f}{unit}" if real == int(real) else f"{real:.2f}{unit}"
        if self.suv_factor is not None:
            text += f"  SUV {real * self.suv_factor:.2f}"
            if self.sul_factor is not None:
                text += f"  SUL {real * self.sul_factor:.2f}"
        elif self.suv_problem:
            text += f"  (no SUV: {self.suv_problem})"
        return text

    def suv_corner_lines(self) -> list[str]:
        """Lines for the bottom-left corner of a PET: its SUV window, or why no SUV."""
        if self.pixels is None or self.pixels.stack.first.modality != "PT":
            return []
        if self.suv_factor is None:
            # The reason, in full, follows the value under the cursor in the status bar.
            return ["no SUV" if self.width() < 420 else
                    f"no SUV: {self.suv_problem.split(': ', 1)[-1]}"]
        if self.window is None:
            return []
        lo, hi = linear_bounds(self.window)
        return [f"SUV {lo * self.suv_factor:.2f}–{hi * self.suv_factor:.2f}"]

    def suv_roi_text(self, m) -> str:
        """SUVmax, SUVmean and SUVpeak (PERCIST: 1 cm^3 sphere at the hottest voxel, in 3-D)
        of an ellipse or rectangle ROI ``m`` on the shown plane; "" when not a PET in SUV.
        SUVpeak needs the acquired plane (the sphere is in the stack's voxels)."""
        if self.suv_factor is None or m.kind == "ruler" or self._shown is None \
                or self._shown.ndim != 2:
            return ""
        from viewer.display.measure import roi_mask
        from viewer.display.suv_stats import suv_stats

        box, mask = roi_mask(m.kind, m.p0, m.p1, self._shown.shape, m.points)
        if not mask.any():
            return ""
        px = self.pixels
        loaded = all(px.is_loaded(k) for k in range(px.stack.n_frames))
        if self.plane == "acquired" and not self.slab_active and loaded \
                and px.stack.spacing is not None:
            if self._suv_vol is None:
                real = to_real_volume(px.frame_volume(), [f.header for f in px.stack.frames])
                self._suv_vol = real * np.float32(self.suv_factor)
            mask3 = np.zeros(self._suv_vol.shape, bool)
            mask3[self.index][box] = mask
            st = suv_stats(self._suv_vol, mask3, tuple(px.stack.spacing))
            return f"SUVmax {st.suv_max:.2f}  mean {st.suv_mean:.2f}  peak {st.suv_peak:.2f}"
        inside = self._real(self._shown)[box][mask] * self.suv_factor
        return f"SUVmax {inside.max():.2f}  mean {inside.mean():.2f}"

    # ------------------------------------------------------------------ fusion

    def set_fusion(self, pixels: StackPixels | None, opacity: float | None = None) -> None:
        """Draw ``pixels`` (a loaded volume of another series sharing this one's Frame of
        Reference, e.g. PET over CT) over this view, resampled onto the shown plane; in SUV
        0-5 through hot iron when it is a PET with SUV, else its 1-99 % range. None removes
        it. Raises ViewerError (one line) when the two cannot be fused."""
        if opacity is not None:
            self.set_fusion_opacity(opacity)
        self._fusion_unit = ""
        if pixels is None or self.pixels is None:
            self.fusion_pixels, self._fusion_values = None, None
            self.fusion_item.clear()
            self._update_bar()
            return
        mine, other = self.pixels.stack, pixels.stack
        if mine.affine is None or other.affine is None:
            raise ViewerError(f"{other.label}: fusion needs position information in both "
                              f"series; this one has none")
        if mine.first.frame_of_reference_uid != other.first.frame_of_reference_uid:
            raise ViewerError(f"{other.label}: not in this series' Frame of Reference "
                              f"(0020,0052); register the two series first")
        if not all(pixels.is_loaded(k) or k in pixels.failed for k in range(other.n_frames)):
            raise ViewerError(f"{other.label}: load the series before fusing it")
        values = to_real_volume(pixels.frame_volume(), [f.header for f in other.frames])
        window = None
        if other.first.modality == "PT":
            try:
                values = values * np.float32(
                    pet.suv_bw_factor(pet.read_suv_parameters(other)))
                window, self._fusion_unit = SUV_DEFAULT, "SUV"
            except pet.SuvError:
                pass  # real values, percentile window
        if window is None:
            w = auto_window(values)
            window = linear_bounds(w)
        self.fusion_pixels, self._fusion_values = pixels, values.astype(np.float32, copy=False)
        self._fusion_window = window
        self._update_fusion()
        self._update_bar()

    def set_fusion_opacity(self, opacity: float) -> None:
        """Opacity (0..1) of the fusion overlay: a display setting only."""
        self.fusion_opacity = float(min(max(opacity, 0.0), 1.0))
        self.fusion_item.setOpacity(self.fusion_opacity)

    def fusion_plane(self) -> np.ndarray | None:
        """The fused volume's values on the shown plane (source orientation), or None."""
        if self._fusion_values is None or self.pixels is None or self._shown is None:
            return None
        other = self.fusion_pixels.stack
        return fusion.resample_plane(self._fusion_values, other.affine,
                                     self.pixels.stack.affine, self.pixels.shape,
                                     self._reformat, self._slab_plane(), self.index)

    def _update_fusion(self) -> None:
        vals = self.fusion_plane()
        if vals is None:
            self.fusion_item.clear()
            return
        rgba = fusion.colour_overlay(vals, *self._fusion_window,
                                     colormap_lut(self.fusion_colormap))
        shown = np.ascontiguousarray(self.transform.apply(rgba))
        rows_mm, cols_mm = self._display_spacing()
        self.fusion_item.setImage(shown, autoLevels=False)
        self.fusion_item.setRect(QRectF(0, 0, shown.shape[1] * cols_mm,
                                        shown.shape[0] * rows_mm))
        self.fusion_item.setOpacity(self.fusion_opacity)
