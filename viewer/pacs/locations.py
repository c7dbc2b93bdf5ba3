"""Where the archive configuration and the local study cache live (XDG base directories, as
:mod:`viewer.logs` does for the log).

- configuration: ``$XDG_CONFIG_HOME/radviewer/pacs.json`` (or ``pacs.toml``), default
  ``~/.config``; the window keeps its own copy in QSettings;
- study cache: ``$XDG_DATA_HOME/radviewer/cache`` (default ``~/.local/share``), or
  ``$RADVIEWER_STUDY_CACHE`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path


def _base(env: str, *default: str) -> Path:
    return Path(os.environ.get(env) or os.path.join(os.path.expanduser("~"), *default))


def config_dir() -> Path:
    """The user's configuration folder for radviewer (not created)."""
    return _base("XDG_CONFIG_HOME", ".config") / "radviewer"


def config_file() -> Path:
    """The archive configuration the command line reads: ``pacs.toml`` when it exists, else
    ``pacs.json`` (which :func:`viewer.pacs.nodes.save_config` writes)."""
    toml = config_dir() / "pacs.toml"
    return toml if toml.is_file() else config_dir() / "pacs.json"


def study_cache_dir() -> Path:
    """The local study cache (a folder per study and ``index.sqlite``; not created)."""
    env = os.environ.get("RADVIEWER_STUDY_CACHE")
    return Path(env) if env else _base("XDG_DATA_HOME", ".local", "share") / "radviewer" / "cache"
