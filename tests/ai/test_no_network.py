"""``radviewer analyze`` makes no network connection and writes no telemetry.

A real analysis of the sample study with a real onnxruntime session, in a child process whose
HOME is a temporary folder. Two independent witnesses: a ``sitecustomize`` hook that records and
refuses every Internet connection and name lookup made through Python's socket module, and
``strace -f -e trace=network`` for what native code (onnxruntime's 1DS uploader resolves
mobile.events.data.microsoft.com through libc) does below Python. The environment is scrubbed of
the CI markers onnxruntime reads to keep quiet on build machines, so the child sees what a
user's laptop sees.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

# The variables onnxruntime checks to suppress telemetry by itself (found in its binary), and
# radviewer's own switch: the test must not pass because the environment did the work.
_QUIET_BY_ENVIRONMENT = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
                         "JENKINS_URL", "BUILDKITE", "TEAMCITY_VERSION", "BUILD_BUILDID",
                         "ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", "XDG_STATE_HOME",
                         "XDG_CONFIG_HOME", "RADVIEWER_MODELS")

_HOOK = '''
import os, socket

_LOG = os.environ["RADVIEWER_TEST_NET_LOG"]


def _record(what):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(what + "\\n")


def _inet(sock):
    return sock.family in (socket.AF_INET, socket.AF_INET6)


def _refuse(name, real):
    def wrapper(self, *args, **kwargs):
        if _inet(self):
            _record(f"{name} {args[:1]!r} pid {os.getpid()}")
            raise OSError("network blocked by the radviewer test")
        return real(self, *args, **kwargs)
    return wrapper


for _name in ("connect", "connect_ex", "sendto"):
    setattr(socket.socket, _name, _refuse(_name, getattr(socket.socket, _name)))


def _lookup(name):
    def wrapper(*args, **kwargs):
        _record(f"{name} {args[:1]!r} pid {os.getpid()}")
        raise socket.gaierror(socket.EAI_FAIL, "name lookup blocked by the radviewer test")
    return wrapper


for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    setattr(socket, _name, _lookup(_name))
_record(f"hook loaded pid {os.getpid()}")
'''

# What reaches the network in strace's output: an Internet address given to connect, send or
# bind (other than a loopback bind). AF_UNIX (the decoder processes' own channel) and
# AF_NETLINK (local interface queries) are not network connections, and neither is an
# unconnected socket bound to loopback: urllib3 (pydicom imports it where requests is
# installed, as dicomweb-client needs) probes IPv6 support by binding one to ::1, port 0.
_STRACE_NET = re.compile(r"(?:^|\s)(connect|sendto|sendmsg|sendmmsg|bind)\(.*sa_family=AF_INET6?\b")
_LOOPBACK_BIND = re.compile(r"\bbind\(.*(inet_pton\(AF_INET6, \"::1\"|inet_addr\(\"127\.)")


def _environment(home: Path, hook_dir: Path, net_log: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _QUIET_BY_ENVIRONMENT}
    env.update(HOME=str(home), PYTHONPATH=str(hook_dir), RADVIEWER_TEST_NET_LOG=str(net_log),
               PYTHONDONTWRITEBYTECODE="1")
    return env


def test_analyze_makes_no_connection_and_writes_no_telemetry(tmp_path):
    home, hook_dir, out = tmp_path / "home", tmp_path / "hook", tmp_path / "out"
    home.mkdir()
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(_HOOK)
    net_log = tmp_path / "net.log"
    trace = tmp_path / "strace.log"
    radviewer = [sys.executable, "-m", "viewer.cli", "analyze", "--sample",
                 "--model", "brainchop-tissue", "--out", str(out), "--quiet"]
    strace = shutil.which("strace")
    if strace is not None:
        probe = subprocess.run([strace, "-o", os.devnull, "true"], capture_output=True)
        strace = strace if probe.returncode == 0 else None  # ptrace refused (a container)
    cmd = ([strace, "-f", "-qq", "-e", "trace=network", "-o", str(trace), *radviewer]
           if strace else radviewer)
    r = subprocess.run(cmd, env=_environment(home, hook_dir, net_log), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["id"] == "brainchop-tissue"

    attempts = net_log.read_text().splitlines()
    assert any(a.startswith("hook loaded") for a in attempts), "the socket hook did not run"
    assert [a for a in attempts if not a.startswith("hook loaded")] == []

    assert not (home / ".cache" / "Microsoft").exists(), sorted(
        str(p.relative_to(home)) for p in (home / ".cache" / "Microsoft").rglob("*"))
    # Nothing but radviewer's own cache (weight checksums) and log under HOME.
    written = {p.relative_to(home).parts[:2] for p in home.rglob("*") if p.is_file()}
    assert written <= {(".cache", "radviewer"), (".local", "state")}, written

    if strace is None:
        pytest.skip("strace is not usable here: native network calls were not traced (the "
                    "Python-level hook and the HOME check passed)")
    native = [line for line in trace.read_text().splitlines()
              if _STRACE_NET.search(line) and not _LOOPBACK_BIND.search(line)]
    assert native == [], native[:10]
