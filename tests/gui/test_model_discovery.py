"""AI ▸ Analyze finds the models off the GUI thread: the picker opens at once, the window keeps
processing events while a slow model folder is read, and the list fills in when discovery ends;
model folders that cannot be read are listed, greyed, with their one-line reason."""

from __future__ import annotations

import json
import os
import shutil

from PySide6.QtCore import Qt, QTimer
from test_main_window import open_and_wait

from viewer.gui import model_picker
from viewer.paths import models_dir, sample_study_dir

GiB = 1 << 30


def _user_folder(tmp_path):
    """A user folder that is slow to discover (1 GiB of new weights to hash) and holds a
    FIFO manifest (which once hung discovery for ever)."""
    user = tmp_path / "my-models"
    big = user / "big"
    shutil.copytree(models_dir() / "brainchop-tissue", big)
    mf = json.loads((big / "manifest.json").read_text())
    mf["id"], mf["name"] = "big-model", "Big user model"
    (big / "manifest.json").write_text(json.dumps(mf))
    with open(big / "model.onnx", "r+b") as fh:
        fh.truncate(GiB)  # sparse
    (user / "pipe").mkdir()
    os.mkfifo(user / "pipe" / "manifest.json")
    return user


def test_picker_opens_at_once_and_fills_in_after_discovery(qtbot, window, settings, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the 1 GiB is hashed here
    settings.setValue("ai/model_folder", str(_user_folder(tmp_path)))
    open_and_wait(qtbot, window, sample_study_dir())

    seen = {"busy_ticks": 0}
    ticker = QTimer()
    ticker.setInterval(5)

    def tick():
        picker = seen.get("picker")
        if picker is not None and not picker.ready:
            seen["busy_ticks"] += 1  # the GUI thread ran while discovery was still going

    ticker.timeout.connect(tick)

    def look(picker):
        seen["picker"] = picker
        seen["ready_at_open"] = picker.ready
        seen["first_text"] = picker.list.item(0).text()
        seen["ok_at_open"] = picker.ok.isEnabled()
        ticker.start()
        qtbot.waitUntil(lambda: picker.ready, timeout=60000)
        ticker.stop()
        seen["rows"] = [(picker.list.item(i).text(),
                         bool(picker.list.item(i).flags() & Qt.ItemFlag.ItemIsEnabled))
                        for i in range(picker.list.count())]
        return 0

    monkeypatch.setattr(model_picker.ModelPicker, "exec", look)
    window.choose_model()

    assert seen["ready_at_open"] is False and not seen["ok_at_open"]
    assert seen["first_text"] == "Looking for models…"
    assert seen["busy_ticks"] >= 1
    rows = seen["rows"]
    tissue = [ok for text, ok in rows if text.startswith("Grey/white matter tissue")]
    assert tissue == [True]  # the bundled model stays usable beside the bad folder
    big = [(text, ok) for text, ok in rows if text.startswith("Big user model")]
    assert len(big) == 1 and not big[0][1] and "checksum mismatch" in big[0][0]
    pipe = [(text, ok) for text, ok in rows if "/pipe/manifest.json" in text]
    assert len(pipe) == 1 and not pipe[0][1]
    assert pipe[0][0].startswith("cannot be used: ") and "FIFO" in pipe[0][0]
    assert "\n" not in pipe[0][0]


def test_model_folder_count_comes_from_the_background(qtbot, window, settings, tmp_path,
                                                      monkeypatch):
    """AI ▸ Model folder… counts the folder's models without blocking the window (a FIFO
    manifest is a problem line, not a hang)."""
    user = _user_folder(tmp_path)
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(user)))
    window.choose_model_folder()
    qtbot.waitUntil(lambda: "1 model found" in window.statusBar().currentMessage(),
                    timeout=30000)
    problems = [window.problems.item(i).text() for i in range(window.problems.count())]
    assert any("/pipe/manifest.json" in p and "FIFO" in p for p in problems), problems
