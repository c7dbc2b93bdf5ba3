"""File ▸ Preferences: stored defaults for windows, overlay style, model folder, AI threads and
patient details in exports; OK stores and applies them, Cancel stores nothing."""

from __future__ import annotations

import dataclasses
import os

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QSpinBox
from test_main_window import open_and_wait

from viewer.display.window import CT_PRESETS, auto_window
from viewer.gui.main_window import MainWindow
from viewer.gui.preferences import KEYS, Preferences, PreferencesDialog

pg.setConfigOptions(imageAxisOrder="row-major")

# Every field away from its default.
CHANGED = Preferences(ct_window="lung", other_window="auto", overlay_opacity=80,
                      overlay_outline=True, model_folder="/data/models", ai_threads=1,
                      include_patient_details=True, scroll_direction="reversed")


def open_dialog(qtbot, window) -> PreferencesDialog:
    window.show_preferences()
    dlg = window._preferences_dialog
    qtbot.waitExposed(dlg)
    return dlg


def click(qtbot, dlg: PreferencesDialog, which: QDialogButtonBox.StandardButton) -> None:
    qtbot.mouseClick(dlg.buttons.button(which), Qt.MouseButton.LeftButton)


def choose(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def test_every_field_differs_from_its_default():
    defaults = Preferences()
    for f in dataclasses.fields(Preferences):
        assert getattr(CHANGED, f.name) != getattr(defaults, f.name), f.name


def test_ct_default_preset_opens_the_next_series_in_it(qtbot, window, settings,
                                                       shared_data):
    dlg = open_dialog(qtbot, window)
    choose(dlg.ct_window, "lung")
    click(qtbot, dlg, QDialogButtonBox.StandardButton.Ok)
    assert settings.value(KEYS["ct_window"]) == "lung"

    open_and_wait(qtbot, window, shared_data / "ct-chest-lidc0314")
    view = window.view
    assert view.window == CT_PRESETS["lung"]
    # Lung window -1350..149 HU (LINEAR) = stored -350..1149 with intercept -1000 (the header
    # window would give -450..1549).
    assert view.image.getLevels() == pytest.approx((-350, 1149))
    assert "C -600  W 1500" in view._corner["bl"].text()

    # A window the user chose stays when the default changes; Reset view takes the default.
    view.apply_preset("bone")
    window._on_preferences_accepted(dataclasses.replace(window.preferences,
                                                        ct_window="mediastinum"))
    assert view.window == CT_PRESETS["bone"]
    window.reset_view()
    assert view.window == CT_PRESETS["mediastinum"]


def test_other_modalities_default_is_separate_from_ct(qtbot, window):
    from viewer.paths import sample_study_dir

    window._on_preferences_accepted(Preferences(ct_window="lung", other_window="auto"))
    open_and_wait(qtbot, window, sample_study_dir())
    labels = [st.label for st in window.catalog.stacks()]
    window.series_list.setCurrentRow(labels.index("AX FSE T2"))  # MR, stored window 545/1185
    view = window.view
    qtbot.waitUntil(lambda: view.pixels.stack.label == "AX FSE T2" and view._shown is not None,
                    timeout=30000)
    assert view.pixels.stack.first.modality == "MR"
    assert view.window == auto_window(view._real(view._shown))
    assert view.window.name == "auto"

    window._on_preferences_accepted(Preferences())
    window.reset_view()
    assert (view.window.center, view.window.width, view.window.name) == (545, 1185, "Algo1")


def test_overlay_style_applies_now_and_at_next_start(qtbot, window, settings):
    panel = window.result_panel
    assert (panel.opacity.value(), panel.outline.isChecked()) == (45, False)
    dlg = open_dialog(qtbot, window)
    dlg.opacity.setValue(70)
    choose(dlg.outline, True)
    click(qtbot, dlg, QDialogButtonBox.StandardButton.Ok)
    assert (panel.opacity.value(), panel.outline.isChecked()) == (70, True)

    again = MainWindow(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert (again.result_panel.opacity.value(), again.result_panel.outline.isChecked()) == \
        (70, True)


def test_threads_reach_the_runner_at_the_next_analysis(qtbot, window, monkeypatch):
    before = window.runner
    assert before.threads == (os.cpu_count() or 1)  # 0: automatic, one per core
    dlg = open_dialog(qtbot, window)
    assert dlg.threads.minimum() == 0 and dlg.threads.maximum() == (os.cpu_count() or 1)
    dlg.threads.setValue(1)
    click(qtbot, dlg, QDialogButtonBox.StandardButton.Ok)
    assert window.runner is not before and window.runner.threads == 1

    # While an analysis runs on the runner it is kept; the next analysis gets the new one.
    one = window.runner
    monkeypatch.setattr(window, "_analyze", object())
    window._on_preferences_accepted(dataclasses.replace(window.preferences, ai_threads=2))
    assert window.runner is one
    monkeypatch.setattr(window, "_analyze", None)
    assert window.runner.threads == 2 and window.runner is not one


def test_threads_set_the_onnxruntime_session(qtbot, window):
    from viewer.ai.registry import discover
    from viewer.paths import sample_study_dir

    window._on_preferences_accepted(Preferences(ai_threads=1))
    open_and_wait(qtbot, window, sample_study_dir())
    entry = {e.id: e for e in discover()}["brainchop-tissue"]
    # The session Analyze would use (created by the window's runner; running the model on
    # one thread would only make the test slow).
    session = window.runner.session(entry)
    assert session.get_session_options().intra_op_num_threads == 1
    assert list(window.runner._sessions.values()) == [session]


def test_restore_defaults_resets_every_field_and_ok_stores_them(qtbot, window, settings):
    CHANGED.save(settings)
    settings.setValue("overlay/colour/brainchop-tissue/1", "#00ff00")
    dlg = open_dialog(qtbot, window)
    assert dlg.preferences() == CHANGED
    click(qtbot, dlg, QDialogButtonBox.StandardButton.RestoreDefaults)
    assert dlg.preferences() == Preferences()
    assert Preferences.load(settings) == CHANGED  # nothing stored before OK
    assert "label colours" in " ".join(lab.text() for lab in dlg.findChildren(QLabel)).lower()
    click(qtbot, dlg, QDialogButtonBox.StandardButton.Ok)
    assert Preferences.load(settings) == Preferences()
    assert settings.value("overlay/colour/brainchop-tissue/1") == "#00ff00"  # kept, as said


def test_cancel_stores_and_applies_nothing(qtbot, window, settings):
    settings.sync()
    keys_before = set(settings.allKeys())
    dlg = open_dialog(qtbot, window)
    dlg.set_preferences(CHANGED)
    click(qtbot, dlg, QDialogButtonBox.StandardButton.Cancel)
    settings.sync()
    assert not any(settings.contains(k) for k in KEYS.values())
    assert set(settings.allKeys()) == keys_before
    assert window.result_panel.opacity.value() == 45
    assert window.preferences == Preferences()
    assert window.views[0].default_window_ct == "header"


def test_values_survive_a_new_settings_object_and_share_existing_keys(qtbot, window,
                                                                      settings):
    from viewer.gui.export_actions import ExportOptions

    dlg = open_dialog(qtbot, window)
    dlg.set_preferences(CHANGED)
    click(qtbot, dlg, QDialogButtonBox.StandardButton.Ok)
    fresh = QSettings(settings.fileName(), QSettings.Format.IniFormat)
    assert Preferences.load(fresh) == CHANGED
    # The export dialogs and AI ▸ Model folder read the same keys.
    assert ExportOptions(fresh, "Export view as image").patient.isChecked()
    assert window.model_folders() == ["/data/models"]


def test_invalid_stored_values_read_as_defaults(settings):
    settings.setValue(KEYS["ct_window"], "no such preset")
    settings.setValue(KEYS["other_window"], "lung")  # a CT preset is not offered for MR
    settings.setValue(KEYS["overlay_opacity"], "abc")
    settings.setValue(KEYS["overlay_outline"], "maybe")
    settings.setValue(KEYS["ai_threads"], 10_000)
    settings.setValue(KEYS["model_folder"], "/x")
    assert Preferences.load(settings) == Preferences(model_folder="/x")


def test_menu_shortcut_and_keyboard_access(qtbot, window):
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert texts.index("&Preferences…") == texts.index("&Quit") - 1
    action = file_menu.actions()[texts.index("&Preferences…")]
    standard = QKeySequence(QKeySequence.StandardKey.Preferences)
    assert action.shortcut() == (standard if not standard.isEmpty() else QKeySequence("Ctrl+,"))

    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dlg = window._preferences_dialog
    qtbot.waitExposed(dlg)
    # Every field has a label with a mnemonic that moves the focus to it.
    fields = {dlg.ct_window, dlg.other_window, dlg.scroll_direction, dlg.opacity, dlg.outline,
              dlg.model_folder, dlg.threads}
    buddies = {lab.buddy() for lab in dlg.findChildren(QLabel) if "&" in lab.text()}
    assert fields <= buddies
    mnemonics = [t.split("&")[1][0].lower() for t in
                 [lab.text() for lab in dlg.findChildren(QLabel) if "&" in lab.text()]
                 + [dlg.browse.text(), dlg.include_patient.text(), dlg.restore_button.text()]]
    assert len(mnemonics) == len(set(mnemonics)), mnemonics
    # Tab goes through the sections top to bottom, then to the buttons.
    chain, w = [], dlg.ct_window
    while len(chain) < 10:
        if w.focusPolicy() & Qt.FocusPolicy.TabFocus and not isinstance(w.parent(), QSpinBox):
            chain.append(w)
        w = w.nextInFocusChain()
    assert chain[:9] == [dlg.ct_window, dlg.other_window, dlg.scroll_direction, dlg.opacity,
                         dlg.outline, dlg.model_folder, dlg.browse, dlg.threads,
                         dlg.include_patient]
    assert chain[9].parent() is dlg.buttons
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert not dlg.isVisible()
