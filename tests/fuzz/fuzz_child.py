"""Fuzz worker process: runs cases through scan, catalog, load, render and export.

``python tests/fuzz/fuzz_child.py --seed S --workdir DIR --mem-cap BYTES`` reads one case
index per line on stdin and writes JSON lines to its original stdout: ``{"event": "start"}``
before a case runs (so the parent can name a case that kills or hangs this process) and
``{"event": "done"}`` with the outcome. Anything the code under test prints goes to
/dev/null (stdout) or the parent's log (stderr). The address space is capped with
``RLIMIT_AS`` so a crafted size fails here instead of eating the machine.

Steps per case (each failure names its step):
scan      ``scan_folder`` of the case folder (the mutated files plus an intact companion)
catalog   every entry of the folder is in a stack, an object or ``catalog.skipped`` with a
          one-line reason; the companion is in a stack
load      ``StackPixels.frame`` of the middle slice of each stack holding a mutated file
render    ``displayable`` (header/default window) and an automatic window, both to uint8,
          without numpy RuntimeWarnings in viewer/display
volume    ``StackPixels.load_volume``
export    ``radviewer export FOLDER --series N --out X.png``: exit 0 with a PNG, or exit 1/2
          with one line on stderr
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import json
import os
import resource
import shutil
import sys
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import fuzz_mutate  # noqa: E402
import fuzz_sources  # noqa: E402
import numpy as np  # noqa: E402

MAX_STACKS = 3  # stacks per case taken through load/render/export


class Problems:
    """What went wrong in one case: failures (category, step, line) and refusals."""

    def __init__(self, secrets: list[str]):
        self.failures: list[tuple[str, str, str]] = []
        self.refusals: list[tuple[str, str]] = []
        self.secrets = [s for s in secrets if len(s) >= 4]

    def fail(self, category: str, step: str, line: str) -> None:
        self.failures.append((category, step, line[:300]))

    def message(self, step: str, text: str, names: tuple[str, ...] = ()) -> None:
        """An expected refusal: one line, no patient data, naming the file when given."""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) != 1:
            self.fail("bad-message", step, f"{len(lines)} lines: {text[:200]!r}")
        elif any(s in text for s in self.secrets):
            self.fail("leak", step, f"patient data in: {text[:200]!r}")
        elif names and not any(n in text for n in names):
            self.fail("bad-message", step, f"does not name the file: {text[:200]!r}")
        else:
            self.refusals.append((step, text[:300]))

    def exception(self, step: str, exc: BaseException, names: tuple[str, ...] = ()) -> None:
        from viewer.errors import ViewerError

        if isinstance(exc, MemoryError):
            self.fail("memory", step, f"MemoryError {_where(exc)}")
        elif isinstance(exc, ViewerError):
            self.message(step, str(exc), names)
        else:
            first = (str(exc).splitlines() or [""])[0]
            self.fail("traceback", step, f"{type(exc).__name__}: {first[:160]} {_where(exc)}")


def _where(exc: BaseException) -> str:
    """``at viewer/x.py:N`` (innermost radviewer frame) ``< lib.py:M`` (innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    ours = [f for f in frames if "/viewer/" in f.filename]
    last = frames[-1]
    text = ""
    if ours:
        f = ours[-1]
        text = f"at viewer/{f.filename.rsplit('/viewer/', 1)[1]}:{f.lineno}"
    if not ours or ours[-1] is not last:
        text += f" < {os.path.basename(last.filename)}:{last.lineno}"
    return text.strip()


def _entries(folder: Path) -> list[str]:
    """Everything a scan must account for: files, FIFOs, and links (to files or folders)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        out += [os.path.join(dirpath, n) for n in filenames]
        out += [os.path.join(dirpath, n) for n in dirnames
                if os.path.islink(os.path.join(dirpath, n))]
    return sorted(out)


def _secrets(case) -> list[str]:
    """Patient name and ID of the case's source and of the companion (must never leak)."""
    from pydicom import dcmread

    out = []
    for name in (case.source, fuzz_sources.COMPANION):
        path = fuzz_sources.locate(fuzz_sources.BY_NAME[name])
        if path is None:
            continue
        ds = dcmread(path, stop_before_pixels=True, force=True)
        out += [str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))]
    return out


def _account(catalog, folder: Path, problems: Problems) -> None:
    listed = {f.header.path for st in catalog.stacks() for f in st.frames}
    listed |= {o.header.path for o in catalog.objects()}
    skipped = {s.path: s.reason for s in catalog.skipped}
    for reason in skipped.values():
        problems.message("catalog", reason)
    known = listed | set(skipped)
    real = {os.path.realpath(p) for p in known}
    for entry in _entries(folder):
        if entry in known or os.path.realpath(entry) in real:
            continue
        if any(p.startswith(entry + os.sep) for p in known):
            continue  # a followed folder link: its files are listed under it
        problems.fail("unaccounted", "catalog",
                      f"{os.path.relpath(entry, folder)} is neither in the catalog nor skipped")
    companion = str(folder / "companion")
    if companion not in {f.header.path for st in catalog.stacks() for f in st.frames}:
        why = skipped.get(companion, "not listed at all")
        problems.fail("lost", "catalog", f"the intact companion is not shown: {why}")


def _render(stack, problems: Problems, names: tuple[str, ...]) -> None:
    from viewer.dicom.pixels import FrameCache, StackPixels
    from viewer.display.window import apply_window, auto_window, displayable

    pixels = StackPixels(stack, FrameCache(256 * 1024 * 1024))
    k = stack.n_frames // 2
    try:
        arr = pixels.frame(k)
    except Exception as exc:  # the harness boundary: every failure is classified
        problems.exception("load", exc, names)
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = displayable(arr, stack.frames[k].header)
            auto = apply_window(pixels.real(k), auto_window(pixels.real(k)))
        for out in (img, auto):
            if out.dtype != np.uint8 or out.shape[:2] != arr.shape[:2]:
                problems.fail("bad-output", "render",
                              f"{out.dtype} {out.shape} from a frame of shape {arr.shape}")
        # numpy's "invalid value encountered in cast" in the display code means garbage pixels.
        for w in caught:
            if "/viewer/display/" in w.filename and issubclass(w.category, RuntimeWarning):
                where = w.filename.rsplit("/viewer/", 1)[1]
                problems.fail("bad-output", "render", f"RuntimeWarning: {w.message} at "
                              f"viewer/{where}:{w.lineno}")
                break
    except Exception as exc:  # the harness boundary
        problems.exception("render", exc, names)
    try:
        pixels.load_volume(workers=1)
    except Exception as exc:  # the harness boundary
        problems.exception("volume", exc, names)


def _export(folder: Path, index: int, out: Path, problems: Problems) -> None:
    from viewer import cli

    png = out / f"series{index}.png"
    err, std = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
            rc = cli.main(["export", str(folder), "--series", str(index), "--out", str(png),
                           "--quiet"])
    except BaseException as exc:  # the harness boundary: SystemExit included
        # Whatever escapes the command line is a traceback for its user, ViewerError included.
        if isinstance(exc, SystemExit):
            problems.fail("traceback", "export", f"SystemExit({exc.code}): {err.getvalue()!r}")
        elif isinstance(exc, MemoryError):
            problems.fail("memory", "export", f"MemoryError {_where(exc)}")
        else:
            first = (str(exc).splitlines() or [""])[0]
            problems.fail("traceback", "export",
                          f"{type(exc).__name__}: {first[:160]} {_where(exc)}")
        return
    if rc == 0:
        from PIL import Image

        try:
            with Image.open(png) as im:
                im.load()
                if im.width < 1 or im.height < 1:
                    problems.fail("bad-output", "export", f"PNG of {im.size}")
        except Exception as exc:  # the harness boundary
            problems.fail("bad-output", "export", f"exit 0 but no readable PNG: {exc}")
    elif rc in (1, 2):
        text = err.getvalue()
        if not text.startswith("radviewer export: "):
            problems.fail("bad-message", "export", f"exit {rc}: {text[:200]!r}")
        else:
            problems.message("export", text)
    else:
        problems.fail("bad-output", "export", f"exit code {rc!r}")


def run_case(seed: int, index: int, workdir: Path, emit) -> dict:
    from viewer.dicom.scan import scan_folder

    t0 = time.perf_counter()
    case = fuzz_mutate.make_case(seed, index)
    emit({"event": "start", "index": index, "description": case.description})
    if case.unavailable:
        return {"category": "unavailable", "line": case.unavailable}
    folder = workdir / f"case{index}" / "study"
    out = workdir / f"case{index}" / "out"
    out.mkdir(parents=True)
    folder.mkdir()
    fuzz_mutate.write_case(case, folder)
    problems = Problems(_secrets(case))
    try:
        catalog = scan_folder(folder)
    except Exception as exc:  # the harness boundary; the companion is lost either way
        from viewer.errors import ViewerError

        if isinstance(exc, ViewerError):
            problems.fail("lost", "scan", f"the whole folder failed: {exc}")
        else:
            problems.exception("scan", exc)
        catalog = None
    if catalog is not None:
        _account(catalog, folder, problems)
        mutated = {str(folder / m) for m in case.mutated}
        mutated |= {os.path.realpath(m) for m in mutated}
        stacks = catalog.stacks()
        hit = [st for st in stacks
               if any(f.header.path in mutated or os.path.realpath(f.header.path) in mutated
                      for f in st.frames)][:MAX_STACKS]
        for st in hit:
            names = tuple(sorted({os.path.basename(f.header.path) for f in st.frames}))
            _render(st, problems, names)
            _export(folder, stacks.index(st) + 1, out, problems)
    shutil.rmtree(workdir / f"case{index}", ignore_errors=True)
    _reset_cache()
    failures = problems.failures
    category = failures[0][0] if failures else ("refused" if problems.refusals else "ok")
    step, line = (failures[0][1], failures[0][2]) if failures else (
        problems.refusals[0] if problems.refusals else ("", ""))
    return {"category": category, "step": step, "line": line,
            "failures": failures, "refusals": problems.refusals[:8],
            "seconds": round(time.perf_counter() - t0, 3)}


def _reset_cache() -> None:
    """Start every case with an empty shared frame cache (``radviewer export`` uses it), so a
    case's peak memory is its own."""
    from viewer.dicom import pixels

    if hasattr(pixels, "_SHARED_CACHE"):
        pixels._SHARED_CACHE = pixels.FrameCache()


def _hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _reset_hwm() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _selftest(what: str) -> None:
    """Misbehave on purpose, so the parent's classification can be tested."""
    if what == "abort":
        os.abort()
    if what == "hang":
        time.sleep(3600)
    if what == "memory":
        bytearray(8 << 30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--mem-cap", type=int, default=2 << 30)
    args = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (args.mem_cap, args.mem_cap))
    faulthandler.enable()
    results = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    workdir = Path(args.workdir)

    def emit(doc: dict) -> None:
        results.write(json.dumps(doc) + "\n")
        results.flush()

    for raw in sys.stdin:
        token = raw.strip()
        if not token:
            continue
        _reset_hwm()
        if token.startswith("selftest:"):
            emit({"event": "start", "index": -1, "description": token})
            try:
                _selftest(token.split(":", 1)[1])
                res = {"category": "ok"}
            except MemoryError:
                res = {"category": "memory", "step": "selftest", "line": "MemoryError"}
            emit({"event": "done", "index": -1, **res, "hwm_kb": _hwm_kb()})
            continue
        index = int(token)
        try:
            res = run_case(args.seed, index, workdir, emit)
        except MemoryError:
            res = {"category": "memory", "step": "harness", "line": "MemoryError"}
        except Exception as exc:  # a bug in the harness itself: say so, keep going
            res = {"category": "harness", "step": "harness",
                   "line": f"{type(exc).__name__}: {exc} {_where(exc)}"}
        emit({"event": "done", "index": index, **res, "hwm_kb": _hwm_kb()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
