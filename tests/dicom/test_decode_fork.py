"""decode_pool.fork_now: a command-line run forks its decoder processes from itself (no
forkserver to start and import everything again), only in a process of its own while it is
single-threaded; they decode the sample's JPEG-LS series as the forkserver's workers do, and a
pool rebuilt after a worker dies comes from the forkserver.

The forking cases run in a fresh interpreter: pytest's own process must never be forked."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, os, sys, threading

    import numpy as np

    from viewer.dicom import decode_pool


    def parent_of(pid):
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])


    def boom(items):  # a worker that dies on item 2, as a decoder's abort would
        if 2 in items:
            os._exit(3)
        return [i * 10 for i in items]


    def main():
        if sys.argv[1] == "threaded":
            ev = threading.Event()
            t = threading.Thread(target=ev.wait)
            t.start()
            forked = decode_pool.fork_now()
            ev.set()
            t.join()
            print(json.dumps({"forked": forked, "pool": decode_pool._pool is not None}))
            return
        from multiprocessing import forkserver

        from viewer.dicom.pixels import FrameCache, StackPixels, decode_frame
        from viewer.dicom.scan import scan_folder
        from viewer.paths import sample_study_dir

        out = {"forked": decode_pool.fork_now(), "again": decode_pool.fork_now()}
        decode_pool.start()
        first = decode_pool.pids()
        out["parents"] = sorted({parent_of(p) for p in first})
        out["me"] = os.getpid()
        out["forkserver"] = forkserver._forkserver._forkserver_pid
        stack = scan_folder(str(sample_study_dir())).stacks()[0]  # the JPEG-LS T1
        vol = StackPixels(stack, FrameCache()).load_volume()
        out["same"] = all(np.array_equal(vol[k], decode_frame(stack.frames[k].header,
                                                              stack.frames[k].frame))
                          for k in (0, 87, stack.n_frames - 1))
        out["frames"] = int(vol.shape[0])
        out["same_workers"] = sorted(decode_pool.pids()) == sorted(first)
        got = dict(decode_pool.run_each(boom, list(range(6)), batch=1))
        out["crashed"] = type(got[2]).__name__
        out["others"] = [got[i] for i in (0, 1, 3, 4, 5)]
        more = dict(decode_pool.run_each(boom, [0, 1, 3, 4], batch=1))  # the rebuilt pool's
        out["more"] = [more[i] for i in range(4)]
        after = decode_pool.pids()
        out["rebuilt_parents"] = sorted({parent_of(p) for p in after})
        out["forkserver_after"] = forkserver._forkserver._forkserver_pid
        print(json.dumps(out))


    if __name__ == "__main__":
        main()
''')


def _run(tmp_path, mode: str) -> dict:
    script = tmp_path / "fork_case.py"  # a file, so that forkserver children can import it
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), mode], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_single_threaded_run_forks_its_decoders_and_they_decode_the_same(tmp_path):
    out = _run(tmp_path, "single")
    assert out["forked"] is True and out["again"] is False
    assert out["parents"] == [out["me"]]  # children of the run itself
    assert out["forkserver"] is None  # no forkserver was started for them
    assert out["frames"] == 175 and out["same"] and out["same_workers"]
    # A worker lost: that item alone is reported, the others come back, and the rebuilt
    # pool's workers are the forkserver's (the run has threads by now).
    assert out["crashed"] == "WorkerCrashed"
    assert out["others"] == [0, 10, 30, 40, 50] and out["more"] == [0, 10, 30, 40]
    assert out["forkserver_after"] is not None
    assert out["rebuilt_parents"] == [out["forkserver_after"]]


def test_a_run_with_another_thread_does_not_fork(tmp_path):
    out = _run(tmp_path, "threaded")
    assert out == {"forked": False, "pool": False}


def test_only_a_command_in_a_process_of_its_own_forks(monkeypatch, tmp_path):
    """viewer.cli.entry marks the process as the command's own; a command run inside another
    program (here pytest, with Qt's and onnxruntime's native threads) never forks it."""
    from viewer import cli_common
    from viewer.cli import main
    from viewer.dicom import decode_pool
    from viewer.paths import sample_study_dir

    calls = []
    monkeypatch.setattr(decode_pool, "fork_now", lambda: calls.append("fork") or False)
    monkeypatch.setattr(decode_pool, "prestart", lambda: calls.append("prestart"))
    args = ["analyze", str(sample_study_dir()), "--model", "brainchop-tissue", "--series", "99",
            "--out", str(tmp_path / "o"), "--quiet"]
    assert main(args) == cli_common.EXIT_USAGE  # no series 99: refused after the scan
    assert calls == ["prestart"]
    monkeypatch.setattr(cli_common, "OWN_PROCESS", True)
    calls.clear()
    assert main(args) == cli_common.EXIT_USAGE
    assert calls == ["fork", "prestart"]  # asked first; refused here, so the forkserver
