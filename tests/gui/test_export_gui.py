"""File ▸ Export in the real window: the same pixels as the command line, the clipboard, a
background series export with cancel, and a DICOM SEG from the folder shown as an overlay."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QGuiApplication
from test_main_window import open_and_wait

from viewer.cli import main as cli_main
from viewer.export.images import default_name
from viewer.gui.export_actions import DISPLAYED, KEY_PATIENT, qimage_to_rgb

pytest.importorskip("highdicom")


def test_native_export_equals_the_cli(qtbot, window, shared_data, tmp_path):
    ct = shared_data / "ct-chest-lidc0314"
    open_and_wait(qtbot, window, ct)
    v = window.view
    v.apply_preset("lung")
    v.set_index(138)
    qtbot.waitUntil(lambda: v.current_image() is not None, timeout=10000)
    gui = window.exporter.write_view(str(tmp_path / "gui.png"), 1, include_patient=False)
    assert gui is not None
    image = str(v.display_position() + 1)  # the number the corner shows ("image n / N")
    assert cli_main(["export", str(ct), "--slice", image, "--preset", "lung", "--out",
                     str(tmp_path / "cli.png"), "--quiet"]) == 0
    a = np.asarray(Image.open(tmp_path / "gui.png"))
    b = np.asarray(Image.open(tmp_path / "cli.png"))
    assert a.shape == b.shape == (512, 512, 3)
    assert np.array_equal(a, b)
    # x2: twice the size; "as displayed": the view's own size.
    x2 = window.exporter.write_view(str(tmp_path / "x2.png"), 2, include_patient=False)
    assert np.asarray(Image.open(x2)).shape == (1024, 1024, 3)
    shown = window.exporter.write_view(str(tmp_path / "shown.jpg"), DISPLAYED, False)
    im = Image.open(shown)
    assert im.format == "JPEG" and im.size == (v.width(), v.height())


def test_clipboard_and_patient_option(qtbot, window, shared_data, settings):
    open_and_wait(qtbot, window, shared_data / "pet-seg-headneck")
    window.set_hide_patient_details(False)  # the screen shows them…
    window.exporter.copy_view()
    img = QGuiApplication.clipboard().image()
    assert not img.isNull() and img.width() >= window.view.width()
    without = qimage_to_rgb(img)[: window.view.height(), : window.view.width()]
    assert window.view.show_patient_details  # …the copy left them out, the view kept them
    settings.setValue(KEY_PATIENT, True)
    window.exporter.copy_view()
    with_details = qimage_to_rgb(QGuiApplication.clipboard().image())
    with_details = with_details[: window.view.height(), : window.view.width()]
    # The top-left corner (where the name is written) differs; the image centre does not.
    h, w = without.shape[:2]
    assert not np.array_equal(without[: h // 6, : w // 2], with_details[: h // 6, : w // 2])
    assert np.array_equal(without[h // 3: 2 * h // 3, w // 3: 2 * w // 3],
                          with_details[h // 3: 2 * h // 3, w // 3: 2 * w // 3])


def test_linked_seg_is_shown_and_series_export_can_be_cancelled(qtbot, window, shared_data,
                                                                 tmp_path):
    open_and_wait(qtbot, window, shared_data / "pet-seg-headneck")
    uid = window.view.pixels.stack.uid
    qtbot.waitUntil(lambda: uid in window.results, timeout=10000)
    result = window.results[uid]
    assert result.model_name.startswith("DICOM SEG") and result.provider == "file"
    k = int(np.argmax(result.label_volume.reshape(result.label_volume.shape[0], -1)
                      .astype(bool).sum(axis=1)))
    window.jump_to_label(result.labels[0].value)
    assert window.view.overlay_plane() is not None and window.view.overlay_plane().any()
    assert "DICOM SEG" in window.result_panel.title.text()

    # Cancel at once: the folder stays empty.
    folder = tmp_path / "series"
    job = window.exporter.start_series(str(folder), range(0, 299), 1, False)
    window.exporter.cancel_series()
    assert job.wait(10)
    assert not folder.exists() or list(folder.iterdir()) == []
    assert not window.export_progress.isVisibleTo(window)
    # A full run of a few slices around the lesion, with the overlay.
    job = window.exporter.start_series(str(folder), range(k - 1, k + 2), 1, False)
    qtbot.waitUntil(lambda: window.exporter.job is None, timeout=20000)
    files = sorted(folder.iterdir())
    sn = window.view.pixels.stack.first.series_number
    assert [f.name for f in files] == [default_name("PT", sn, n) for n in (k, k + 1, k + 2)]
    mid = np.asarray(Image.open(files[1]).convert("RGB")).astype(int)
    assert (np.abs(mid[..., 0] - mid[..., 1]) + np.abs(mid[..., 1] - mid[..., 2])).max() > 30


def test_secondary_capture_is_written_in_the_background(qtbot, window, shared_data, tmp_path):
    import pydicom

    open_and_wait(qtbot, window, shared_data / "pet-seg-headneck")
    out = tmp_path / "pet_view.dcm"
    # Every status message as it is shown: another one may replace "Saved" before a poll of
    # the current message would see it.
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    before = window.problems.count()
    assert window.exporter.write_capture(str(out), False, background=True) is None
    assert "Saving secondary capture" in window.statusBar().currentMessage()

    def saved():
        return any("Saved secondary capture" in m for m in shown)

    qtbot.waitUntil(lambda: saved() or window.problems.count() > before, timeout=20000)
    problems = [window.problems.item(i).text() for i in range(window.problems.count())]
    assert saved(), (shown, problems)
    ds = pydicom.dcmread(out)
    assert ds.BurnedInAnnotation == "NO"
    assert ds.StudyInstanceUID == pydicom.dcmread(
        window.view.pixels.stack.first.path, stop_before_pixels=True).StudyInstanceUID
    # Writing again to the same name fails in the background and says so in Problems.
    window.exporter.write_capture(str(out), False, background=True)
    qtbot.waitUntil(lambda: window.problems.count() > 0, timeout=20000)
    assert "already exists" in window.problems.item(window.problems.count() - 1).text()


def test_colour_image_exports_as_stored_like_the_cli(qtbot, window, tmp_path):
    """A real RGB secondary capture (pydicom's SC_rgb.dcm): the window's native export draws
    it as stored, the same pixels as `radviewer export`, colour kept."""
    import shutil

    from pydicom.data import get_testdata_file

    folder = tmp_path / "rgb"
    folder.mkdir()
    shutil.copy(get_testdata_file("SC_rgb.dcm"), folder / "sc.dcm")
    open_and_wait(qtbot, window, folder)
    v = window.view
    qtbot.waitUntil(lambda: v.current_image() is not None, timeout=10000)
    assert v.current_image().ndim == 3
    gui = window.exporter.write_view(str(tmp_path / "gui.png"), 1, include_patient=False)
    assert cli_main(["export", str(folder), "--out", str(tmp_path / "cli.png"),
                     "--quiet"]) == 0
    a = np.asarray(Image.open(gui))
    b = np.asarray(Image.open(tmp_path / "cli.png"))
    assert a.shape == b.shape and np.array_equal(a, b)
    stored = v.current_image()
    h, w = stored.shape[:2]
    # Outside the corner text the pixels are the stored RGB (a window would change them).
    assert a.shape[:2] == (h, w)
    assert (a == stored).all(-1).mean() > 0.8
    assert (a[..., 0] != a[..., 1]).any()
