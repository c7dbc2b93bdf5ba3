"""``radviewer audit [--json] [--last N]``: show the audit trail (:mod:`viewer.audit`)."""

from __future__ import annotations

import argparse
import json
import sys

from viewer.cli_common import EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    from viewer.audit import AUDIT_SCHEMA, audit_path, format_entry, read_entries

    path = audit_path()
    entries = read_entries(path, limit=args.last)
    if args.json:
        json.dump({"schema": AUDIT_SCHEMA, "path": str(path), "entries": entries},
                  sys.stdout, indent=2)
        print()
        return EXIT_OK
    if not entries:
        print(f"no audit entries yet ({path})")
        return EXIT_OK
    for e in entries:
        print(format_entry(e))
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("audit", help="show the audit trail of opens, analyses and exports",
                       description="Show the local audit trail: time, action, outcome, the "
                       "study (a salted hash of its UID, never the UID), destination, counts.")
    p.add_argument("--json", action="store_true", help="print the radviewer.audit/1 document")
    p.add_argument("--last", type=int, default=None, metavar="N",
                   help="only the last N entries")
    p.set_defaults(func=cmd_audit)
