"""The core packages never import Qt (guarded here and by import-linter in .ci/run)."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "viewer.dicom", "viewer.display", "viewer.ai", "viewer.export", "viewer.cli",
    "viewer.registration", "viewer.persist", "viewer.deid", "viewer.audit", "viewer.pacs",
]


def test_core_imports_with_qt_blocked():
    code = (
        "import sys\n"
        "QT = ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6')\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in QT:\n"
        "            raise ImportError('Qt is blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib, pkgutil\n"
        f"for top in {CORE!r}:\n"
        "    m = importlib.import_module(top)\n"
        "    for info in pkgutil.walk_packages(getattr(m, '__path__', []), top + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(sorted(k for k in sys.modules if k.startswith('viewer')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "viewer.dicom.scan" in r.stdout and "viewer.display.window" in r.stdout
