"""Run fuzz cases in child processes (:mod:`fuzz_child`) with a memory cap and a timeout.

Several cases run in one child, to pay the interpreter's start-up once; a child that crashes
or hangs is replaced and the run goes on with the next case. Outcome categories:

ok, refused    passed: no problem, or one-line refusals (skipped file, DicomReadError, exit 1/2)
crash          the child died (signal or exit status); the line is the end of its stderr
hang           no result within the timeout
memory         MemoryError under the address-space cap, or the child and its decoder
               processes together grew by over half the cap, past the cap (sampled PSS)
traceback      an uncaught exception in a step (scan, load, render, volume, export)
unaccounted    a file that is neither in the catalog nor in catalog.skipped
lost           the intact companion file is not shown (one bad file sank the folder)
bad-message    a refusal of more than one line, or one that does not name its file
leak           patient name or ID in a message
bad-output     a rendered image of the wrong type or shape, or exit 0 without a PNG
harness        a bug in the fuzzer itself
unavailable    the case's source file is not installed here (skipped)
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

CHILD = Path(__file__).with_name("fuzz_child.py")
PASSING = ("ok", "refused", "unavailable")
MEM_CAP = 2 << 30  # bytes of address space per process
TIMEOUT_S = 20.0  # per case


@dataclass
class Outcome:
    index: int
    description: str
    category: str
    step: str = ""
    line: str = ""
    failures: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    seconds: float = 0.0
    hwm_kb: int = 0  # the child's own peak RSS (VmHWM) during the case
    group_kb: int = 0  # peak PSS of the child and every process it started (sampled)

    @property
    def failed(self) -> bool:
        return self.category not in PASSING

    def explain(self, seed: int) -> str:
        where = f" [{self.step}]" if self.step else ""
        more = "".join(f"\n  also {c} [{s}]: {ln}" for c, s, ln in self.failures[1:4])
        return f"case {seed}:{self.index} {self.description}: {self.category}{where}: " \
               f"{self.line}{more}"


@dataclass
class RunStats:
    children: int = 0
    max_child_maxrss_kb: int = 0  # ru_maxrss of reaped children (wait4)
    seconds: float = 0.0


def _session_pss_kb(sid: int) -> int:
    """Sum of PSS over the processes of session ``sid`` (the child and its decoders).

    PSS shares a page among the processes that map it, so forked decoders that share the
    forkserver's preloaded modules are not counted twice (a sum of RSS would)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            # Fields after the command name (which may hold spaces): state ppid pgrp session
            if int(stat.rsplit(")", 1)[1].split()[3]) != sid:
                continue
            with open(f"/proc/{name}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


class _Sampler:
    """Peak PSS of a child's session, sampled while waiting for its result."""

    def __init__(self, sid: int, enabled: bool):
        self.sid, self.enabled = sid, enabled
        self.start_kb = _session_pss_kb(sid) if enabled else 0
        self.kb = self.start_kb

    def __call__(self) -> None:
        if self.enabled:
            self.kb = max(self.kb, _session_pss_kb(self.sid))


class _Child:
    """One fuzz_child process: send a token, read its JSON events."""

    def __init__(self, seed: int, workdir: str, mem_cap: int, log_path: Path):
        self.log = open(log_path, "ab")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONFAULTHANDLER="1")
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), "--seed", str(seed), "--workdir", workdir,
             "--mem-cap", str(mem_cap)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True, env=env, cwd=str(CHILD.parents[2]))
        self.buf = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.log_path = log_path

    def send(self, token: str) -> None:
        self.proc.stdin.write(f"{token}\n".encode())
        self.proc.stdin.flush()

    def read_event(self, deadline: float, sample: Callable[[], None]) -> dict | str:
        """The next event, ``"eof"`` when the child died, ``"timeout"`` past ``deadline``."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if self.sel.select(timeout=min(left, 0.2)):
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return "eof"
                self.buf += chunk
            sample()
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def log_tail(self, since: int) -> str:
        """The end of what the child wrote to stderr since byte ``since``: the crash line."""
        with open(self.log_path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        for ln in lines:  # the first line of a fatal error names the cause
            if ln.startswith(("Fatal Python error", "terminate called", "Segmentation")):
                return ln[:300]
        return lines[-1][:300] if lines else ""

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def reap(self, stats: RunStats, wait_s: float = 10.0) -> int:
        """Close stdin, wait (killing after ``wait_s``), record ru_maxrss; the wait status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        end = time.monotonic() + wait_s
        # Wait without reaping, then kill what is left of the session while the exited
        # child still holds its id (so the group id cannot have been reused), then reap.
        while time.monotonic() < end:
            if os.waitid(os.P_PID, self.proc.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            time.sleep(0.05)
        self.kill()
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        stats.max_child_maxrss_kb = max(stats.max_child_maxrss_kb, usage.ru_maxrss)
        self.sel.close()
        self.proc.stdout.close()
        self.log.close()
        return status


def _died(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def run(seed: int, tokens: Iterable[int | str], *, timeout: float = TIMEOUT_S,
        mem_cap: int = MEM_CAP, per_child: int = 25,
        on_outcome: Callable[[Outcome], None] | None = None,
        sample_memory: bool = True) -> tuple[list[Outcome], RunStats]:
    """Run the cases ``tokens`` (case indices, or ``"selftest:abort|hang|memory"``)."""
    pending = list(tokens)
    pending.reverse()
    outcomes: list[Outcome] = []
    stats = RunStats()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="radviewer-fuzz-") as tmp:
        while pending:
            stats.children += 1
            child = _Child(seed, tmp, mem_cap, Path(tmp) / f"child{stats.children}.log")
            ran = 0
            while pending and ran < per_child:
                token = pending.pop()
                ran += 1
                since = child.log_size()
                child.send(str(token))
                start = time.monotonic()
                index = token if isinstance(token, int) else -1
                desc = str(token)
                sample = _Sampler(child.proc.pid, sample_memory)
                ev = child.read_event(start + timeout, sample)
                if isinstance(ev, dict) and ev.get("event") == "start":
                    desc = ev["description"]
                    ev = child.read_event(start + timeout, sample)
                if isinstance(ev, dict):
                    ev.pop("event", None)
                    ev.pop("index", None)
                    o = Outcome(index, desc, group_kb=sample.kb, **ev)
                    o.seconds = round(time.monotonic() - start, 3)
                else:
                    if ev == "timeout":
                        child.kill()
                    status = child.reap(stats)
                    if ev == "timeout":
                        o = Outcome(index, desc, "hang", "", f"no result after {timeout:.0f} s")
                    else:
                        o = Outcome(index, desc, "crash", "",
                                    f"{_died(status)}: {child.log_tail(since)}")
                    o.seconds = round(time.monotonic() - start, 3)
                    o.group_kb = sample.kb
                grew = (sample.kb - sample.start_kb) * 1024
                if sample.kb * 1024 > mem_cap and grew > mem_cap / 2 and not o.failed:
                    # Each process is capped, so decoders over the cap fail "politely" with
                    # a MemoryError each; together they still took more than one case may.
                    o.category, o.step = "memory", "load"
                    o.line = (f"the child and its decoders reached {sample.kb / 1024:.0f} MiB "
                              f"(PSS), over the {mem_cap / 2**30:.1f} GiB cap; refusal: {o.line}")
                outcomes.append(o)
                if on_outcome is not None:
                    on_outcome(o)
                if o.category in ("hang", "crash"):
                    break
            else:
                child.reap(stats)
    stats.seconds = round(time.monotonic() - t0, 1)
    return outcomes, stats


def summary(seed: int, outcomes: list[Outcome], stats: RunStats, mem_cap: int = MEM_CAP) -> str:
    """Counts by category with one example each, and peak memory."""
    counts = Counter(o.category for o in outcomes)
    lines = [f"{len(outcomes)} cases (seed {seed}) in {stats.seconds} s, "
             f"{stats.children} child processes"]
    for cat, n in counts.most_common():
        ex = next(o for o in outcomes if o.category == cat)
        lines.append(f"  {cat:<12} {n:>5}   e.g. {ex.explain(seed)}")
    fail_steps = Counter(f"{o.category} [{o.step}]" for o in outcomes if o.failed)
    if fail_steps:
        lines.append("  failures by step: " + ", ".join(f"{k} {v}" for k, v in
                                                         fail_steps.most_common()))
    if outcomes:
        top = max(outcomes, key=lambda o: max(o.hwm_kb, o.group_kb))
        lines.append(
            f"  peak memory: child VmHWM {max(o.hwm_kb for o in outcomes) / 1024:.0f} MiB, "
            f"child + decoders (PSS, sampled) {max(o.group_kb for o in outcomes) / 1024:.0f} MiB "
            f"(case {seed}:{top.index} {top.description}), children's ru_maxrss "
            f"{stats.max_child_maxrss_kb / 1024:.0f} MiB")
        over = [o for o in outcomes if o.group_kb * 1024 > mem_cap]
        if over:
            lines.append(f"  over {mem_cap / 2**30:.1f} GiB in all (sampled; a failure where the "
                         "case itself added over half the cap): " + ", ".join(
                             f"{seed}:{o.index} {o.group_kb / 1024:.0f} MiB" for o in over[:10]))
        slow = max(outcomes, key=lambda o: o.seconds)
        lines.append(f"  slowest case: {slow.seconds:.1f} s, {seed}:{slow.index} "
                     f"{slow.description} ({slow.category})")
    return "\n".join(lines)
