"""Long fuzz run: thousands of mutated real files through scan, catalog, load, render, export.

Run from anywhere (paths are resolved from this file)::

    python tests/benchmarks/fuzz_long.py [--cases N] [--seed S] [--first K] [--timeout S]
        [--mem-cap GIB] [--per-child N] [--failures FILE.jsonl]

Cases are ``(seed, index)`` for index K..K+N-1, the same mutator and child process as
``tests/fuzz/test_fuzz_fixed.py`` (seed 16, the first cases); any case printed here is
reproduced by ``make_case(seed, index)`` in ``tests/fuzz/fuzz_mutate.py``. This is not a
test: nothing is asserted. It prints each failing case as it happens, then the outcomes by
category with one example each, the failures by step, and peak memory: the children's
``ru_maxrss`` (wait4; Linux counts the RSS a child had at exec, i.e. this script's, in it),
the largest per-case VmHWM of a child, and the largest sampled PSS of a child plus the
decoder processes it started (every 0.2 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))

import fuzz_run  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--first", type=int, default=0, help="first case index")
    ap.add_argument("--timeout", type=float, default=fuzz_run.TIMEOUT_S, help="s per case")
    ap.add_argument("--mem-cap", type=float, default=fuzz_run.MEM_CAP / 2**30,
                    help="address space per process, GiB")
    ap.add_argument("--per-child", type=int, default=50, help="cases per child process")
    ap.add_argument("--failures", help="write every failing case to this JSON-lines file")
    args = ap.parse_args()

    sink = open(args.failures, "w") if args.failures else None
    done = [0]

    def report(o: fuzz_run.Outcome) -> None:
        done[0] += 1
        if o.failed:
            print(f"[{done[0]}/{args.cases}] {o.explain(args.seed)}", flush=True)
            if sink is not None:
                sink.write(json.dumps(asdict(o)) + "\n")
                sink.flush()
        elif done[0] % 100 == 0:
            print(f"[{done[0]}/{args.cases}]", flush=True)

    indices = range(args.first, args.first + args.cases)
    outcomes, stats = fuzz_run.run(args.seed, indices, timeout=args.timeout,
                                   mem_cap=int(args.mem_cap * 2**30),
                                   per_child=args.per_child, on_outcome=report)
    if sink is not None:
        sink.close()
    print(fuzz_run.summary(args.seed, outcomes, stats, int(args.mem_cap * 2**30)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
