"""De-identified export of whole studies, as paired ratios measured in one run (a benchmark:
prints, asserts nothing; pytest does not collect it).

    python tests/benchmarks/bench_deid.py [--repeat 3] [--studies pet,ct]

For each shared study (the PET with its SEG, 300 files; the CT, 275 files), three ways of
writing a copy of every file, interleaved in each repeat so that load from other work hits
them alike:

copy        pydicom read + write of each file through viewer.export.atomic (the same atomic,
            fsynced write the export uses): the floor for a read-and-write tool
anonymizer  dicom-anonymizer's own engine (``anonymize_dataset``, its 2023 default table) on
            each data set, written the same way: the library whose table radviewer uses
radviewer   ``viewer.deid.export_deidentified`` with all four options (Modified Dates, Patient
            Characteristics, Clean Descriptors, Safe Private)

Printed per study: median seconds of each, per-file milliseconds, and the ratios
radviewer/copy and radviewer/anonymizer (median of the per-repeat ratios). The load average
is printed with each figure: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
STUDIES = {"pet": "pet-seg-headneck", "ct": "ct-chest-lidc0314"}


def _shared() -> Path:
    for c in (os.environ.get("RADVIEWER_SHARED_DATA"), REPO.parent / "shared" / "data"):
        if c and Path(c).is_dir():
            return Path(c)
    sys.exit("no shared data (../shared/data or $RADVIEWER_SHARED_DATA)")


def _write(ds, target: Path) -> None:
    from viewer.export.atomic import atomic_write

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda fh: ds.save_as(fh, enforce_file_format=True))


def run_copy(files: list[str], out: Path) -> None:
    import pydicom

    for i, f in enumerate(files):
        _write(pydicom.dcmread(f), out / f"{i:05d}.dcm")


def run_anonymizer(files: list[str], out: Path) -> None:
    import pydicom
    from dicomanonymizer import anonymize_dataset

    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        anonymize_dataset(ds)
        _write(ds, out / f"{i:05d}.dcm")


def run_radviewer(files: list[str], out: Path) -> None:
    from viewer.deid import DeidOptions, export_deidentified

    report = export_deidentified(files, out, DeidOptions(True, True, True, True))
    assert len(report.written) == len(files), report.failed[:3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--studies", default="pet,ct")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from viewer.deid import study_files
    from viewer.dicom.scan import scan_folder

    ways = {"copy": run_copy, "anonymizer": run_anonymizer, "radviewer": run_radviewer}
    for key in args.studies.split(","):
        files = study_files(scan_folder(_shared() / STUDIES[key]))
        times: dict[str, list[float]] = {w: [] for w in ways}
        run_radviewer(files[:3], Path(tempfile.mkdtemp()) / "warm")  # imports, tables
        for _ in range(args.repeat):
            for name, fn in ways.items():
                tmp = Path(tempfile.mkdtemp(prefix=f"bench-deid-{name}-"))
                t0 = time.perf_counter()
                fn(files, tmp / "out")
                times[name].append(time.perf_counter() - t0)
                shutil.rmtree(tmp)
        load = os.getloadavg()[0]
        print(f"{STUDIES[key]}: {len(files)} files, {args.repeat} interleaved repeats, "
              f"load {load:.2f} on {os.cpu_count()} cores")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:<10} {med:6.2f} s  ({1000 * med / len(files):5.1f} ms/file)")
        for anchor in ("copy", "anonymizer"):
            ratio = statistics.median(r / a for r, a in zip(times["radviewer"], times[anchor],
                                                            strict=True))
            print(f"  radviewer / {anchor:<10} {ratio:5.2f}x")


if __name__ == "__main__":
    main()
