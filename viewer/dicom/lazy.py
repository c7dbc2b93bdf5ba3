"""Thread-safe lazy imports of pydicom.

pydicom is imported on first use to keep start-up quick. Two threads importing it at the same
time can hand one of them a partially initialised module when their submodule imports
interleave (seen: "partially initialized module 'pydicom' has no attribute 'valuerep'"), so
the first import of each part happens under one lock; later calls are a dictionary lookup.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_lock = threading.RLock()
_done: set[str] = set()


def load(name: str = "pydicom") -> ModuleType:
    """The fully imported module ``name`` (``pydicom`` or one of its submodules)."""
    if name in _done:
        return sys.modules[name]
    with _lock:
        mod = importlib.import_module(name)
        _done.add(name)
        return mod


def pydicom() -> ModuleType:
    return load("pydicom")


def pydicom_pixels() -> ModuleType:
    load("pydicom")
    return load("pydicom.pixels")
