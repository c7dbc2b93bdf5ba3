"""What every ``radviewer`` command shares: exit codes, one-line messages on stderr, and the
last-resort boundary that turns anything unexpected into one line and an exit code.

The exit codes are documented in README.md ("Command line" ▸ "Exit status"); a test keeps the
table there equal to :data:`EXIT_CODES`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FLAGGED = 3  # analyze: done, but the result is flagged (implausible, outside the model's use)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl+C

EXIT_CODES: tuple[tuple[int, str, str], ...] = (  # (code, in a word, when)
    (EXIT_OK, "done", "done"),
    (EXIT_FAILURE, "failure", "a file could not be written, the model failed to run, the "
     "reader of the output quit early (`head`, `less`: no message), or a bug (its details "
     "go to the log)"),
    (EXIT_USAGE, "bad input", "bad arguments, or input radviewer cannot use: no such path, no "
     "image, a file that cannot be read or decoded, a model that does not fit the series"),
    (EXIT_FLAGGED, "flagged", "done, but `analyze` flagged the result: a volume outside "
     "the model's plausible range or a series outside its stated use (report.json `flags`); "
     "do not trust the numbers"),
    (EXIT_INTERRUPTED, "interrupted", "interrupted (Ctrl+C); nothing partial is left behind"),
)

log = logging.getLogger("radviewer.cli")

# True in a process that is one radviewer command from its start (viewer.cli.entry: the console
# script, ``python -m viewer.cli``, the frozen app), not when a command runs inside another
# program (the tests call viewer.cli.main in-process): only then may a command fork this
# process, whose native threads (Qt's, onnxruntime's) fork() would not carry.
OWN_PROCESS = False


def say(command: str, message: str) -> None:
    """Print ``radviewer COMMAND: message`` on stderr (one line)."""
    line = " ".join(str(message).split())  # decoders' multi-line messages stay one line
    print(f"radviewer {command}: {line}" if command else f"radviewer: {line}", file=sys.stderr)


def fail(command: str, message: str, code: int) -> int:
    """:func:`say` ``message`` and return ``code``, for ``return fail(...)``."""
    say(command, message)
    return code


def warn(command: str, message: str) -> None:
    say(command, f"warning: {message}")


def _silence_stdout() -> None:
    """After the reader of stdout went away (``| head``): point stdout at /dev/null so the
    interpreter's final flush does not raise again (Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to flush
        pass


def _log_bug(command: str, exc: BaseException) -> str:
    """Write ``exc``'s traceback to the user log; returns where (or why not)."""
    from viewer.logs import format_exception, setup_logging

    try:
        path = setup_logging()
    except OSError:
        return "the user log could not be opened"
    log.error("radviewer %s failed:\n%s", command or "(window)",
              format_exception(type(exc), exc, exc.__traceback__))
    return f"details are in {path}"


def guarded(command: str, run: Callable[[], int]) -> int:
    """Run a command and map every way out of it to an exit code with at most one line.

    ViewerError (messages name the file and the next step) is a failure, or bad input when
    a file cannot be read (DicomReadError) or found (StudyNotFoundError); KeyboardInterrupt
    is :data:`EXIT_INTERRUPTED` (writers clean up on the way out: their files are atomic);
    a closed stdout ends quietly; anything else is a bug: its traceback goes to the user log,
    whose path is printed, and nothing from the exception's text (which may quote file
    contents) reaches the terminal.
    """
    from viewer.errors import DicomReadError, StudyNotFoundError, ViewerError

    try:
        code = int(run())
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return fail(command, "interrupted; nothing partial was written", EXIT_INTERRUPTED)
    except (DicomReadError, StudyNotFoundError) as exc:  # the input's fault
        return fail(command, str(exc), EXIT_USAGE)
    except ViewerError as exc:
        return fail(command, str(exc), EXIT_FAILURE)
    except Exception as exc:  # noqa: BLE001 (the last-resort boundary of the command line)
        where = _log_bug(command, exc)
        return fail(command, f"unexpected error ({type(exc).__name__}); this is a bug in "
                    f"radviewer: {where}; please report it", EXIT_FAILURE)
