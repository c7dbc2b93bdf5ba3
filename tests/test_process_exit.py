"""The real window ends cleanly: every process it started ends with it, and the log stays clean.

Each test starts ``python -m viewer.cli --sample`` (offscreen) in its own session, waits until
its decoder pool is up (the forkserver has worker children), records every descendant from
/proc, ends the app, and checks that none of them is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

ROOT = Path(__file__).resolve().parents[1]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st is not None and int(st[1]) == pid:
                out.append(int(d))
    return out


def _descendants(pid: int) -> dict[int, str]:
    """Descendant pid -> its start time (so a reused pid is not taken for a survivor)."""
    found, todo = {}, [pid]
    while todo:
        for c in _children(todo.pop()):
            st = _stat(c)
            if st is not None:
                found[c] = st[19]
                todo.append(c)
    return found


def _survivors(procs: dict[int, str]) -> list[int]:
    alive = []
    for pid, start in procs.items():
        st = _stat(pid)
        if st is not None and st[19] == start and st[0] != "Z":
            alive.append(pid)
    return alive


def _env(tmp_path) -> dict[str, str]:
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(tmp_path / "state"),
                XDG_CONFIG_HOME=str(tmp_path / "config"))


def _start_window(tmp_path) -> tuple[subprocess.Popen, dict[int, str]]:
    # Output to files, not pipes: a survivor holding a pipe would stall communicate().
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "viewer.cli", "--sample"], cwd=ROOT,
                                env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        procs = _descendants(proc.pid)
        # resource tracker + forkserver + its workers (grandchildren of the app)
        if any(set(_children(c)) for c in _children(proc.pid)):
            time.sleep(0.5)  # let the pool reach its full size
            return proc, _descendants(proc.pid)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    pytest.fail(f"the window started no decoder processes (rc {proc.returncode}):\n"
                f"{(tmp_path / 'stderr.txt').read_text()[-2000:]}")
    return proc, procs  # pragma: no cover


def _assert_all_gone(procs: dict[int, str]) -> None:
    t0 = time.monotonic()
    deadline = t0 + 15  # orphans of a killed app need a moment to notice
    while _survivors(procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _survivors(procs)
    print(f"descendants gone {time.monotonic() - t0:.2f} s after the app ended")
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


@pytest.mark.parametrize(("sig", "group", "code"), [
    (signal.SIGTERM, False, 128 + signal.SIGTERM),  # kill PID
    (signal.SIGINT, True, 128 + signal.SIGINT),  # Ctrl+C: the terminal signals the group
])
def test_signal_ends_window_and_every_process_it_started(tmp_path, sig, group, code):
    proc, procs = _start_window(tmp_path)
    assert len(procs) >= 3
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"{sig.name} did not end the window")
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == code, err[-2000:]
    _assert_all_gone(procs)
    assert "Traceback" not in err, err[-3000:]
    log = tmp_path / "state" / "radviewer" / "radviewer.log"
    assert " ERROR " not in (log.read_text() if log.exists() else "")


def test_kill_9_leaves_no_decoder_processes(tmp_path):
    # Nothing runs in the app after SIGKILL: its workers must die with it on their own.
    proc, procs = _start_window(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    _assert_all_gone(procs)


def test_exit_after_first_image_leaves_a_clean_log(tmp_path):
    r = subprocess.run([sys.executable, "-m", "viewer.cli", "--sample",
                        "--exit-after-first-image"], cwd=ROOT, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "first image:" in r.stdout
    text = (tmp_path / "state" / "radviewer" / "radviewer.log").read_text()
    assert "cannot schedule new futures" not in text
    assert " ERROR " not in text, text[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
