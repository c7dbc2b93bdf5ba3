"""Entry point of the frozen app (PyInstaller): the same ``radviewer`` command as the wheel's."""

import multiprocessing
import sys

from viewer.cli import entry

if __name__ == "__main__":
    # The slice decoder's forkserver pool re-enters this executable; freeze_support lets the
    # frozen child run its worker instead of a second copy of the app.
    multiprocessing.freeze_support()
    sys.exit(entry())
