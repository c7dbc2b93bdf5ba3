"""``radviewer pacs echo|find|get|move|send``: archives from the command line
(:mod:`viewer.pacs`). NODE is a node's name in the archive configuration
(``~/.config/radviewer/pacs.json`` or ``pacs.toml``, or ``--config``), ``AET@HOST:PORT`` for a
DIMSE archive, or a DICOMweb base URL (``http(s)://...``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from dataclasses import asdict
from typing import Any

from viewer.cli_common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, fail, say

SCHEMA = "radviewer.pacs/1"
HELP = """NODE: a name from the archive configuration (README > Archives (PACS)),
AET@HOST:PORT (DIMSE; this station calls as --our-aet, C-MOVE's Storage SCP listens on
--scp-port), or a DICOMweb base URL. Retrieved studies go to the study cache
(~/.local/share/radviewer/cache, or --cache); a second run resumes a partial one."""
_ADHOC = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d+)$")


def _node(args: argparse.Namespace):
    from viewer.pacs.locations import config_file
    from viewer.pacs.nodes import DicomWebNode, DimseNode, find_node, load_config

    spec = args.node
    if spec.startswith(("http://", "https://")):
        return DicomWebNode("command line", spec)
    m = _ADHOC.match(spec)
    if m:
        return DimseNode("command line", m["aet"], m["host"], int(m["port"]),
                         our_ae_title=args.our_aet, scp_port=args.scp_port)
    return find_node(load_config(args.config or config_file()), spec)


def _client(args: argparse.Namespace):
    from viewer.pacs.cache import StudyCache
    from viewer.pacs.client import PacsClient

    return PacsClient(_node(args), StudyCache(args.cache) if args.cache else StudyCache())


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    if args.json:
        json.dump({"schema": SCHEMA, **doc}, sys.stdout, indent=2, default=str)
        print()
    elif text:
        print(text)


def _progress(args: argparse.Namespace, verb: str):
    if args.json or not sys.stderr.isatty():
        return None

    def show(p) -> None:
        total = f"/{p.total}" if p.total else ""
        print(f"\r{verb} {p.done}{total}", end="", file=sys.stderr, flush=True)

    return show


def cmd_echo(args: argparse.Namespace) -> int:
    client = _client(args)
    seconds = client.verify()
    _emit(args, {"command": "echo", "node": client.node.describe(), "ok": True,
                 "seconds": round(seconds, 4)},
          f"{client.node.describe()}: answered in {seconds * 1000:.0f} ms")
    return EXIT_OK


def _query(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep:
            raise ValueError(f"-q {p!r}: write KEYWORD=VALUE (e.g. -q PatientID=123)")
        out[key.strip()] = value
    return out


def cmd_find(args: argparse.Namespace) -> int:
    try:
        query = _query(args.query or [])
    except ValueError as exc:
        return fail("pacs", str(exc), EXIT_USAGE)
    client = _client(args)
    found = client.find(args.level, query, study_uid=args.study, limit=args.limit)
    lines = ["  ".join(f"{k}={v}" for k, v in row.items()) for row in found]
    _emit(args, {"command": "find", "node": client.node.describe(), "level": args.level,
                 "matches": found}, "\n".join(lines) or "no match")
    return EXIT_OK


def _retrieve(args: argparse.Namespace, method: str | None) -> int:
    client = _client(args)
    cancel = threading.Event()
    try:
        r = client.retrieve(args.study, args.series or None, method=method,
                            progress=_progress(args, "retrieved"), cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        client.cache.set_state(args.study, "partial")
        return fail("pacs", "interrupted; the instances that arrived are kept in the cache "
                    "(run the command again to resume)", EXIT_INTERRUPTED)
    if _progress(args, "") is not None:
        print(file=sys.stderr)
    doc = {k: v for k, v in asdict(r).items() if k != "paths"}
    doc["folder"] = str(client.cache.study_dir(args.study))
    _emit(args, {"command": "retrieve", "node": client.node.describe(), **doc},
          f"{r.method}: {r.state}, {r.received} received, {r.skipped} already cached, "
          f"{r.failed} failed, in {r.elapsed_s:.1f} s -> {doc['folder']}")
    if r.state != "complete":
        say("pacs", r.message or f"the retrieval is {r.state}")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    return _retrieve(args, args.method)


def cmd_move(args: argparse.Namespace) -> int:
    return _retrieve(args, "move")


def cmd_send(args: argparse.Namespace) -> int:
    client = _client(args)
    out = client.send(args.paths, progress=_progress(args, "sent"))
    bad = [o for o in out if not o.ok]
    _emit(args, {"command": "send", "node": client.node.describe(),
                 "instances": [{"path": str(o.path), "sop_instance_uid": o.sop_instance_uid,
                                "status": o.status, "ok": o.ok, "message": o.message}
                               for o in out]},
          f"{len(out) - len(bad)} of {len(out)} instances stored on {client.node.describe()}")
    for o in bad:
        say("pacs", f"{o.path}: refused (status 0x{o.status & 0xFFFF:04X}) {o.message}")
    return EXIT_FAILURE if bad else EXIT_OK


def _guard_config(fn):
    """Bad node settings or an unknown node are bad input (exit 2), not a failure."""
    def run(args: argparse.Namespace) -> int:
        from viewer.pacs.errors import PacsConfigError

        try:
            return fn(args)
        except PacsConfigError as exc:
            return fail("pacs", str(exc), EXIT_USAGE)
    return run


def add_parser(sub) -> None:
    pacs = sub.add_parser("pacs", help="echo, search, retrieve from and send to an archive",
                          description=HELP)
    cmds = pacs.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("node", metavar="NODE", help="node name, AET@HOST:PORT or URL")
    common.add_argument("--json", action="store_true", help="print a radviewer.pacs/1 document")
    common.add_argument("--config", help="archive configuration file (JSON or TOML)")
    common.add_argument("--cache", help="study cache folder")
    common.add_argument("--our-aet", default="RADVIEWER", help="this station's AE title "
                        "with AET@HOST:PORT (RADVIEWER)")
    common.add_argument("--scp-port", type=int, default=11112, help="this station's Storage "
                        "SCP port for C-MOVE with AET@HOST:PORT (11112)")
    p = cmds.add_parser("echo", parents=[common], help="C-ECHO (or a QIDO request)")
    p.set_defaults(func=_guard_config(cmd_echo))
    p = cmds.add_parser("find", parents=[common], help="C-FIND / QIDO-RS")
    p.add_argument("--level", default="STUDY", type=str.upper,
                   choices=["PATIENT", "STUDY", "SERIES", "IMAGE"])
    p.add_argument("-q", "--query", action="append", metavar="KEY=VALUE",
                   help="matching key, repeatable (PatientName=DOE*, StudyDate=20240101-)")
    p.add_argument("--study", help="Study Instance UID (series and image levels)")
    p.add_argument("--limit", type=int, help="at most this many matches")
    p.set_defaults(func=_guard_config(cmd_find))
    for name, fn, what in (("get", cmd_get, "C-GET (or WADO-RS for a DICOMweb node)"),
                           ("move", cmd_move, "C-MOVE to this station's Storage SCP")):
        p = cmds.add_parser(name, parents=[common], help=f"retrieve a study by {what}")
        p.add_argument("study", metavar="STUDY_UID")
        p.add_argument("--series", action="append", metavar="SERIES_UID",
                       help="only this series (repeatable)")
        if name == "get":
            p.add_argument("--method", choices=["get", "wado"], help=argparse.SUPPRESS)
        else:
            p.set_defaults(method="move")
        p.set_defaults(func=_guard_config(fn))
    p = cmds.add_parser("send", parents=[common], help="C-STORE / STOW-RS files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_guard_config(cmd_send))
