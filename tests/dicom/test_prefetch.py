"""The launch prefetch (viewer.dicom.prefetch): a forked child scans the folder and decodes
its first slice; what the window takes equals what it would have scanned and decoded itself,
and every failure ends in "no prefetch" (the window then scans as usual).

Run in a fresh interpreter: forking is only done, as at launch, by a process with one thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from viewer.paths import sample_study_dir

SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    from viewer.dicom import prefetch
    root, other = sys.argv[1], sys.argv[2]
    out = {}

    # 1. the sample: taken, equal to a scan and a decode done here
    out["started"] = prefetch.start(root)
    pre = prefetch.take(root)
    from viewer.dicom.scan import scan_folder
    from viewer.dicom.frame_decode import decode_frame
    cat = scan_folder(root)
    def desc(c):
        return [[s.uid, s.n_frames, [f.header.path for f in s.frames]] for s in c.stacks()]
    out["same_catalog"] = pre is not None and desc(pre.catalog) == desc(cat)
    st = cat.stacks()[0]
    ref = st.frames[st.n_frames // 2]
    key = (ref.header.path, ref.frame)
    out["frame_keys_ok"] = pre is not None and list(pre.frames) == [key]
    out["same_pixels"] = pre is not None and bool(
        (pre.frames[key] == decode_frame(ref.header, ref.frame)).all())

    # 2. another folder asked for: nothing, and the child is gone
    prefetch.start(root)
    pid = prefetch._child.pid
    out["other_folder"] = prefetch.take(other) is None
    try:
        os.waitpid(pid, os.WNOHANG)
        out["reaped"] = False
    except ChildProcessError:
        out["reaped"] = True

    # 2b. asked by the GUI thread before the child answered: no wait, the child goes on
    prefetch.start(root)
    pid = prefetch._child.pid
    early = prefetch.take_ready(root)
    if early is None:
        out["not_waited"] = os.waitpid(pid, os.WNOHANG) == (0, 0)  # still running
        early = prefetch.take(root)
    else:
        out["not_waited"] = True
    out["taken_later"] = early is not None and desc(early.catalog) == desc(cat)
    # 2c. an answer too large for the GUI thread: take_ready leaves it to take()
    prefetch.GUI_MAX_BYTES = 10
    prefetch.start(root)
    import select
    select.select([prefetch._child.fd], [], [], 30)  # the child has answered
    out["large_left"] = prefetch.take_ready(root) is None and prefetch._child is not None
    late = prefetch.take(root)
    out["large_taken"] = late is not None and desc(late.catalog) == desc(cat)
    prefetch.GUI_MAX_BYTES = 512 * 1024
    prefetch.start(root)
    out["ready_other_folder"] = prefetch.take_ready(other) is None and prefetch._child is None

    # 3. a child that dies (as on a decoder's abort): nothing
    prefetch.start(root)
    os.kill(prefetch._child.pid, signal.SIGKILL)
    out["died"] = prefetch.take(root) is None

    # 4. a folder too large to scan without progress: nothing
    prefetch.MAX_FILES = 3
    prefetch.start(root)
    out["too_large"] = prefetch.take(root) is None

    # 4b. a scan over its time budget (a slow CD, a network share): nothing
    prefetch.MAX_FILES = 2000
    prefetch.BUDGET_S = 0.0
    prefetch.start(root)
    out["over_budget"] = prefetch.take(root) is None

    # 5. no fork once a thread runs
    ev = threading.Event()
    t = threading.Thread(target=ev.wait)
    t.start()
    out["refused_with_thread"] = prefetch.start(root) is False
    ev.set(); t.join()
    print(json.dumps(out))
""")


def test_prefetch_equals_the_scan_and_fails_safe(tmp_path):
    root = str(sample_study_dir())
    proc = subprocess.run([sys.executable, "-c", SCRIPT, root, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"started": True, "same_catalog": True, "frame_keys_ok": True,
                   "same_pixels": True, "other_folder": True, "reaped": True, "died": True,
                   "not_waited": True, "taken_later": True, "large_left": True,
                   "large_taken": True, "ready_other_folder": True,
                   "too_large": True, "over_budget": True, "refused_with_thread": True}


def test_load_volume_uses_frames_already_decoded(ct_catalog):
    """A frame in the cache (as the prefetch leaves it) is copied into the volume, not decoded
    again; the other slices are decoded as usual."""
    import numpy as np

    from viewer.dicom.frame_cache import FrameCache
    from viewer.dicom.pixels import StackPixels

    stack = ct_catalog.stacks()[0]
    cache = FrameCache()
    mid = stack.n_frames // 2
    ref = stack.frames[mid]
    reference = StackPixels(stack, cache=FrameCache())
    marker = np.full(reference.frame_shape, 1234, dtype=reference.dtype)  # no real slice
    cache.put((ref.header.path, ref.frame), marker)
    px = StackPixels(stack, cache=cache)
    assert (px.ready_frame(mid) == 1234).all()  # shown at once, before any load
    assert px.ready_frame(mid - 1) is None  # never decoded by asking
    seen = []
    vol = px.load_volume(on_slice=seen.append)
    assert np.array_equal(px.ready_frame(mid - 1), vol[mid - 1])
    assert seen[0] == mid and sorted(seen) == list(range(stack.n_frames))
    assert (vol[mid] == 1234).all()
    assert np.array_equal(vol[mid - 1], reference.frame(mid - 1))


HUNG = textwrap.dedent("""
    import json, os, sys, threading, time
    from viewer.dicom import prefetch
    prefetch._work = lambda root: time.sleep(60)  # a child that hangs (a decoder stuck)
    root = sys.argv[1]
    assert prefetch.start(root)
    pid = prefetch._child.pid
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t = time.monotonic()
    got = prefetch.take(root, cancel=cancel)
    waited = time.monotonic() - t
    try:
        os.waitpid(pid, os.WNOHANG)
        reaped = False
    except ChildProcessError:
        reaped = True
    print(json.dumps({"none": got is None, "waited": waited, "reaped": reaped}))
""")


def test_a_cancelled_scan_stops_waiting_for_a_hung_child():
    """The scan's Cancel (and the window's close) does not wait out the child's timeout
    (seconds) when the child hangs: the wait ends at the cancel and the child is killed."""
    proc = subprocess.run([sys.executable, "-c", HUNG, str(sample_study_dir())],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["none"] and out["reaped"], out
    assert out["waited"] < 2.0, out  # the timeout is BUDGET_S + 3 s = 5 s


UNUSED = textwrap.dedent("""
    import json, sys
    from viewer.dicom import decode_pool, prefetch
    calls = []
    decode_pool.prestart = lambda: calls.append(1)  # what the launch skipped for the child
    root, other = sys.argv[1], sys.argv[2]
    out = {}
    prefetch.MAX_FILES = 3  # a large study: the child answers "none"
    prefetch.start(root)
    out["too_large"] = (prefetch.take(root) is None, len(calls))
    prefetch.start(root)
    out["other_folder"] = (prefetch.take_ready(other) is None, len(calls))
    prefetch.start(root)
    prefetch.discard()  # at exit: nothing to start
    out["discarded"] = len(calls)
    print(json.dumps(out))
""")


def test_the_decoders_start_when_the_prefetch_is_not_used(tmp_path):
    """The launch leaves the decoders' start to the prefetch (viewer.app.run_gui); when there
    is none to use (a study over MAX_FILES, a slow scan, another folder opened) they still
    start when the window opens its folder, as without a prefetch."""
    proc = subprocess.run([sys.executable, "-c", UNUSED, str(sample_study_dir()), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"too_large": [True, 1], "other_folder": [True, 2], "discarded": 2}, out
