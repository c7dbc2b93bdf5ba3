"""The main window's cine: the active viewport loops through its slices at the set rate."""

from __future__ import annotations

from viewer.gui.slice_view import ACQUIRED


class CineMixin:
    """Part of :class:`~viewer.gui.main_window.MainWindow`: slice cine of the active view."""

    def toggle_cine(self, on: bool) -> None:
        """Play (True) or pause: the active view loops through its slices at the set rate."""
        if on and self.view.pixels is not None and self.view.n_slices > 1:
            self.volume_nav.stop_cine()
            self.cine.start(int(1000 / self.fps.value()))
        else:
            self.cine.stop()
        self.play_action.setChecked(self.cine.isActive())

    def _on_fps_changed(self, fps: int) -> None:
        self.settings.setValue("cine/fps", fps)
        self.volume_nav.set_rate(fps)
        if self.cine.isActive():
            self.cine.setInterval(int(1000 / fps))

    def _cine_tick(self) -> None:
        v = self.view
        if v.pixels is None or v.n_slices < 2:
            self.toggle_cine(False)
            return
        nxt = v.display_position((v.display_position() + 1) % v.n_slices)  # shown order
        if v.plane == ACQUIRED and not v.pixels.is_loaded(nxt) and nxt not in v.pixels.failed:
            return  # wait for the decoder rather than flash "loading"
        v.set_index(nxt)
