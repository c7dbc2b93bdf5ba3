"""PySide6 6.12.0 aborts CPython 3.11 after a few hundred Signal(bool) emits
("Fatal Python error: bool_dealloc"); pyproject pins < 6.12 for Python < 3.12."""

from __future__ import annotations

import subprocess
import sys

CODE = """
from PySide6.QtCore import QCoreApplication, QObject, Signal

class Emitter(QObject):
    toggled = Signal(bool)

app = QCoreApplication([])
e = Emitter()
seen = []
e.toggled.connect(seen.append)
for i in range(5000):
    e.toggled.emit(i % 2 == 0)
assert len(seen) == 5000 and seen[:2] == [True, False], len(seen)
print("ok", len(seen))
"""


def test_bool_signal_emitted_thousands_of_times():
    # In a child process: the bug kills the interpreter, which must fail this test, not pytest.
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok 5000"


def test_pyside_version_is_not_the_broken_one():
    import PySide6

    if sys.version_info < (3, 12):
        assert tuple(int(x) for x in PySide6.__version__.split(".")[:2]) < (6, 12)
