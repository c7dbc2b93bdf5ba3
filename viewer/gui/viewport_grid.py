"""The viewport grid: up to four viewports (a title strip with a menu over a SliceView) laid out
1×1, 1×2, 2×1, 2×2 or 1×3; the active one outlined, one maximised on double-click, series
dropped onto them from the series browser. What each shows lives in
:class:`viewer.display.viewport.ViewportModel`; this module only arranges and reports."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.display.viewport import LAYOUTS, ViewportModel
from viewer.gui.slice_view import SliceView

# The browser's drag carries the stack uid under this type (see SeriesBrowser hook in the
# report); drags from the browser's tree are also read from its current item.
SERIES_MIME = "application/x-radviewer-stack-uid"
_ACTIVE = "ViewportFrame { border: 2px solid #3c8cdc; }"
_IDLE = "ViewportFrame { border: 2px solid #202020; }"


class ViewportFrame(QFrame):
    """One viewport: a one-line title (series, plane) with a menu button, over its view."""

    def __init__(self, index: int, view: SliceView) -> None:
        super().__init__()
        self.index = index
        self.view = view
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 11px;")
        self.menu_button = QToolButton()
        self.menu_button.setText("▾")
        self.menu_button.setToolTip("Series and plane of this viewport")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.menu = QMenu(self)
        self.menu_button.setMenu(self.menu)
        strip = QWidget()
        strip.setFixedHeight(20)
        s_lay = QHBoxLayout(strip)
        s_lay.setContentsMargins(4, 0, 0, 0)
        s_lay.addWidget(self.title, 1)
        s_lay.addWidget(self.menu_button)
        self.strip = strip
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(0)
        lay.addWidget(strip)
        lay.addWidget(view, 1)
        self.setStyleSheet(_IDLE)


class ViewportGrid(QWidget):
    """Arranges :class:`ViewportFrame` s by a :class:`ViewportModel`.

    Signals
    -------
    activated(int)
        A press, wheel or drop in viewport ``i`` made it the active one.
    maximise_toggled(int)
        Viewport ``i`` was double-clicked.
    series_dropped(int, str)
        A series (stack uid) was dropped onto viewport ``i``.
    """

    activated = Signal(int)
    maximise_toggled = Signal(int)
    series_dropped = Signal(int, str)

    def __init__(self, views: list[SliceView], drop_uid=None) -> None:
        super().__init__()
        self.frames = [ViewportFrame(i, v) for i, v in enumerate(views)]
        self.drop_uid = drop_uid  # callable(event) -> stack uid or None (drags from the tree)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        for f in self.frames:
            vp = f.view.graphics.viewport()
            vp.installEventFilter(self)
            vp.setAcceptDrops(True)
            f.view.graphics.setAcceptDrops(True)
            f.setAcceptDrops(True)
            f.installEventFilter(self)

    def arrange(self, model: ViewportModel) -> None:
        """Place the shown viewports in the grid, hide the others, outline the active one."""
        for f in self.frames:
            self.grid.removeWidget(f)
            f.hide()
        rows, cols = LAYOUTS[model.layout] if model.maximised is None else (1, 1)
        for r in range(3):
            self.grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(3):
            self.grid.setColumnStretch(c, 1 if c < cols else 0)
        shown = model.shown()
        for i in shown:
            r, c = (0, 0) if model.maximised is not None else model.grid_cell(i)
            self.grid.addWidget(self.frames[i], r, c)
            self.frames[i].show()
        self.set_active(model.active, outline=len(shown) > 1)

    def set_active(self, i: int, outline: bool = True) -> None:
        for j, f in enumerate(self.frames):
            style = _ACTIVE if (j == i and outline) else _IDLE
            if f.styleSheet() != style:  # setStyleSheet re-polishes the frame: 1-3 ms a call
                f.setStyleSheet(style)

    # ------------------------------------------------------------------ events

    def _frame_of(self, obj: QObject) -> int | None:
        for f in self.frames:
            if obj is f or obj is f.view.graphics.viewport():
                return f.index
        return None

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        t = ev.type()
        if t in (QEvent.Type.MouseButtonPress, QEvent.Type.Wheel,
                 QEvent.Type.MouseButtonDblClick, QEvent.Type.DragEnter, QEvent.Type.Drop,
                 QEvent.Type.DragMove):
            i = self._frame_of(obj)
            if i is None:
                return False
            if t in (QEvent.Type.MouseButtonPress, QEvent.Type.Wheel):
                self.activated.emit(i)
            elif t == QEvent.Type.MouseButtonDblClick:
                if ev.button() == Qt.MouseButton.LeftButton:
                    self.maximise_toggled.emit(i)
                    return True
            elif t in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
                if self.uid_of(ev) is not None:
                    ev.acceptProposedAction()
                    return True
            elif t == QEvent.Type.Drop:
                uid = self.uid_of(ev)
                if uid is not None:
                    ev.acceptProposedAction()
                    self.activated.emit(i)
                    self.series_dropped.emit(i, uid)
                    return True
        return False

    def uid_of(self, ev) -> str | None:
        """The stack uid a drag carries (our MIME type, or the browser tree's current row)."""
        md = ev.mimeData()
        if md is not None and md.hasFormat(SERIES_MIME):
            return bytes(md.data(SERIES_MIME)).decode() or None
        return self.drop_uid(ev) if self.drop_uid is not None else None
