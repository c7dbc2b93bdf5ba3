"""Volume navigation for 4-D series (time points, diffusion weightings, echoes).

Each volume is its own Stack (see :mod:`viewer.dicom.volumes`); switching volume shows that
stack in every visible view while keeping each view's plane, slice, window, inversion, rotation
and zoom. Cine over volumes steps the volume at a fixed slice.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget

from viewer.dicom.pixels import StackPixels
from viewer.dicom.volumes import VolumeSeries, volume_series


class VolumeNavigator(QObject):
    """The volume spin box, the volume keys and cine over volumes of one MainWindow."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.win = window
        self.cine_over_volumes = False
        self.widget = QWidget()
        lay = QHBoxLayout(self.widget)
        lay.setContentsMargins(4, 0, 4, 0)
        self.caption = QLabel("Volume")
        self.spin = QSpinBox()
        self.spin.setToolTip("Volume of this 4-D series (Alt+Right / Alt+Left)")
        self.spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.spin.valueChanged.connect(lambda n: self.set_volume(n - 1))
        self.label = QLabel()
        lay.addWidget(self.caption)
        lay.addWidget(self.spin)
        lay.addWidget(self.label)
        self.toolbar_action = None  # the toolbar's action holding ``widget`` (MainWindow)
        # Waits for the next volume's slice to arrive before stepping (no "loading" flash).
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ state

    @property
    def series(self) -> VolumeSeries | None:
        px = self.win.view.pixels
        return volume_series(px.stack) if px is not None else None

    @property
    def shown(self) -> bool:
        """Whether the volume controls are in the toolbar (a 4-D series is shown)."""
        return self.toolbar_action is not None and self.toolbar_action.isVisible()

    @property
    def index(self) -> int:
        vs = self.series
        return vs.index_of(self.win.view.pixels.stack) if vs is not None else 0

    def sync(self) -> None:
        """Show or hide the volume controls for the stack now shown."""
        vs = self.series
        if self.toolbar_action is not None:
            self.toolbar_action.setVisible(vs is not None)
        if vs is None:
            self.stop_cine()
            return
        i = self.index
        self.spin.blockSignals(True)
        self.spin.setRange(1, vs.count)
        self.spin.setValue(i + 1)
        self.spin.setSuffix(f" / {vs.count}")
        self.spin.blockSignals(False)
        self.label.setText(vs.labels[i])

    # ------------------------------------------------------------------ commands

    def step(self, delta: int) -> None:
        """Next (+1) or previous (-1) volume, wrapping around."""
        vs = self.series
        if vs is not None:
            self.set_volume((self.index + delta) % vs.count)

    def set_volume(self, i: int) -> None:
        """Show volume ``i`` of the shown 4-D series, keeping each view's state."""
        vs = self.series
        if vs is None or not 0 <= i < vs.count or i == self.index:
            return
        target = vs.volumes[i]
        w = self.win
        states = [(v, v.plane, v.index, v.window, v.inverted, v.transform, v.crosshair,
                   v.viewbox.viewRange() if v._shown is not None else None)
                  for v in w.visible_views()]
        # Only the shown volume keeps its decoded volume; others stay in the frame cache.
        for other in vs.volumes:
            if other is not target:
                w._pixels_by_uid.pop(other.uid, None)
        px = StackPixels(target)
        w._pixels_by_uid[target.uid] = px
        cine = w.cine.isActive()
        w.show_stack(target)
        for v, plane, index, window, inverted, transform, cross, rng in states:
            if v.pixels is not px:
                v.set_stack(px)
            if plane in v.planes:
                v.plane = plane
            v.index = min(index, v.n_slices - 1)
            v.window, v.inverted, v.transform, v.crosshair = window, inverted, transform, cross
            v._items_key = None
            v._needs_fit = rng is None
            v.refresh()
            v._apply_lut()
            if rng is not None:
                v.viewbox.setRange(xRange=rng[0], yRange=rng[1], padding=0)
        w._sync_slider(w.view.index)
        if cine:  # slice cine goes on in the new volume
            w.toggle_cine(True)
        self.sync()

    def set_cine_over_volumes(self, on: bool) -> None:
        """Toggle: play the volumes at the shown slice (on) or stop (off)."""
        self.cine_over_volumes = bool(on)
        if on and self.series is not None:
            self.win.toggle_cine(False)
            self.timer.start(int(1000 / self.win.fps.value()))
        else:
            self.stop_cine()

    def stop_cine(self) -> None:
        self.timer.stop()
        self.cine_over_volumes = False
        action = getattr(self.win, "volume_cine_action", None)
        if action is not None and action.isChecked():
            action.blockSignals(True)
            action.setChecked(False)
            action.blockSignals(False)

    def set_rate(self, fps: int) -> None:
        if self.timer.isActive():
            self.timer.setInterval(int(1000 / fps))

    def _tick(self) -> None:
        vs = self.series
        if vs is None:
            self.stop_cine()
            return
        v = self.win.view
        if v.current_image() is None:
            return  # this volume's slice is still decoding
        self.step(1)
