"""README.md stays true: every shortcut of the window is in its tables, every image it shows
exists, and its manifest example parses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Qt's names for keys whose README spelling is the one printed on keyboards.
KEY_ALIASES = {"Del": "Delete", "PgDown": "PgDn"}


def _readme_spelling(keys: str) -> str:
    return re.sub(r"\b(Del|PgDown)\b", lambda m: KEY_ALIASES[m.group(1)], keys)


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _first_column(header: str) -> str:
    """The first cells of the README table whose header row starts with ``| header |``."""
    text = _readme()
    start = text.find(f"| {header} |")
    assert start >= 0, f"README.md has no table with the header '{header}'"
    rows = text[start:].split("\n\n", 1)[0].splitlines()[2:]
    return "\n".join(row.split("|")[1] for row in rows)


@pytest.fixture
def window(qtbot, tmp_path):
    """The real window with its settings in a temporary file (as tests/gui/conftest.py)."""
    from PySide6.QtCore import QSettings

    from viewer.gui.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    yield win
    win.close()


def test_every_shortcut_of_the_window_is_in_the_readme(window):
    from viewer.gui.main_window import MOUSE_HELP

    mouse = {gesture for gesture, _ in MOUSE_HELP}
    rows = window.shortcut_rows()
    keyboard = [(keys, action) for keys, action in rows if keys not in mouse]
    assert len(keyboard) > 40  # the menus' shortcuts were found
    listed = set(re.findall(r"`([^`]+)`", _first_column("Keys")))
    missing = [f"{keys} ({action})" for keys, action in keyboard
               if _readme_spelling(keys) not in listed]
    assert not missing, f"shortcuts missing from README.md's Keys table: {missing}"
    gestures = _first_column("Mouse")
    missing = [g for g in sorted(mouse) if g.split()[0] not in gestures]
    assert not missing, f"mouse gestures missing from README.md's Mouse table: {missing}"


def test_every_image_the_readme_references_exists():
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+\.(?:png|jpe?g|gif|svg))\)", _readme())
    targets += re.findall(r'<img[^>]*\bsrc="([^"]+)"', _readme())
    assert any("screenshots/" in t for t in targets), "README.md shows no screenshot"
    missing = [t for t in targets if "://" not in t and not (REPO / t).is_file()]
    assert not missing, f"README.md references missing images: {missing}"


def test_the_readme_manifest_example_parses_and_matches_the_bundled_weights():
    from viewer.ai.manifest import load_manifest, parse_manifest

    text = _readme()
    section = text[text.index("### Add a model"):]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    bundled = load_manifest(REPO / "models" / "brainchop-tissue" / "manifest.json")
    m = parse_manifest(example, bundled.folder, "README.md example")
    assert (m.task, m.mode, m.sha256) == (bundled.task, bundled.mode, bundled.sha256)
    assert m.id != bundled.id and m.grid == bundled.grid and m.labels == bundled.labels
    assert m.intended_use.startswith("Research use only — not a diagnosis.")
