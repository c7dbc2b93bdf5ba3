"""Retrieval benchmark: the shared chest CT (275 instances) from a local Orthanc by C-GET,
C-MOVE and WADO-RS, radviewer against DCMTK's ``getscu``/``movescu`` and a plain
dicomweb-client loop, on the same machine in the same run.

    python tests/benchmarks/bench_pacs.py [--rounds N] [SERIES_DIR]

Each round runs every method once, in an interleaved order (radviewer, then its reference,
per protocol), into fresh folders; medians over the rounds and the ratio of each to the
fastest in its protocol and overall are printed, with radviewer's time to the first instance
on disk (what the viewer can show before the retrieval ends), the client's CPU time (this
process for radviewer and dicomweb-client, the DCMTK tool's for it; Orthanc's is not counted)
and the load average. Nothing is asserted. Needs Orthanc + its DICOMweb plugin and DCMTK
(apt install orthanc orthanc-dicomweb dcmtk).

- radviewer C-GET / C-MOVE / WADO-RS: ``PacsClient.retrieve`` into a fresh ``StudyCache``
  (atomic file per instance, SQLite index, progress callback), C-MOVE to its own Storage SCP
  (started for the transfer, as in the app);
- getscu: ``getscu -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=... -od DIR``: one
  flat folder of ``CT.<SOP UID>`` files written in place (no C-FIND first, no index, no
  rename); radviewer first plans by C-FIND (the total for progress, the SOP classes to
  negotiate, what a resume skips): that plan is timed on its own too ("radviewer's plan");
- movescu: ``movescu -S --port P -aem MOVESCU ... -od DIR`` (its own Storage SCP);
  both DCMTK tools run with ``TCP_NODELAY=1`` (see DCMTK_ENV);
- dicomweb-client loop: ``iter_series(..., media_types=(("application/dicom", "*"),))`` and
  ``dcmwrite`` of each instance into a folder (no index, no atomic rename).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pacs"))
DEFAULT_SERIES = REPO.parent / "shared" / "data" / "ct-chest-lidc0314"
# DCMTK keeps Nagle's algorithm unless TCP_NODELAY=1; with it getscu is about 6x faster on
# loopback (3.1 s -> 0.5 s for 60 instances): the reference tools get their best setting.
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _cpu() -> float:
    """CPU seconds (user + system) of this process (all its threads) and its finished
    children (getscu, movescu): under other load, CPU time is steadier than wall time."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _count(folder: Path) -> int:
    """DICOM files written (the cache's index and temporary files left out)."""
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
               and not p.name.startswith("index.sqlite"))


def main(argv: list[str] | None = None) -> None:
    import orthanc_server
    import pydicom

    from viewer.pacs.cache import StudyCache
    from viewer.pacs.client import PacsClient
    from viewer.pacs.nodes import DicomWebNode, DimseNode

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("series", nargs="?", default=str(DEFAULT_SERIES))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    why = orthanc_server.missing()
    if why or not shutil.which("getscu"):
        sys.exit(why or "DCMTK's getscu is not installed (apt install dcmtk)")
    files = sorted(p for p in Path(args.series).iterdir() if p.is_file()
                   and p.name.endswith(".dcm"))
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    series = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    work = Path(tempfile.mkdtemp(prefix="radviewer-bench-pacs-"))
    ours_port, dcmtk_port = orthanc_server.free_port(), orthanc_server.free_port()
    server = orthanc_server.start(work / "orthanc", {"radviewer": ("RADVIEWER", ours_port),
                                                     "dcmtk": ("MOVESCU", dcmtk_port)})
    try:
        t0 = time.perf_counter()
        server.upload(files)
        print(f"Orthanc {server.url}: {len(files)} instances uploaded in "
              f"{time.perf_counter() - t0:.1f} s")
        node = DimseNode("orthanc", "ORTHANC", "127.0.0.1", server.dicom_port,
                         scp_port=ours_port)
        web = DicomWebNode("orthanc-web", server.dicomweb_url)
        keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]

        def ours(method):
            def run(out: Path):
                r = PacsClient(node if method != "wado" else web, StudyCache(out)).retrieve(
                    study, method=method)
                assert r.state == "complete", r.message
                return r.first_instance_s
            return run

        def getscu(out: Path):
            out.mkdir()
            subprocess.run(["getscu", "-aet", "RADVIEWER", "-aec", "ORTHANC", "-S", *keys,
                            "-od", str(out), "127.0.0.1", str(server.dicom_port)], check=True,
                           capture_output=True, env=DCMTK_ENV)

        def movescu(out: Path):
            out.mkdir()
            subprocess.run(["movescu", "-aet", "MOVESCU", "-aem", "MOVESCU", "-aec", "ORTHANC",
                            "-S", "--port", str(dcmtk_port), *keys, "-od", str(out),
                            "127.0.0.1", str(server.dicom_port)], check=True,
                           capture_output=True, env=DCMTK_ENV)

        def web_loop(out: Path):
            from dicomweb_client.api import DICOMwebClient

            out.mkdir()
            wc = DICOMwebClient(web.url)
            for ds in wc.iter_series(study, series, media_types=(("application/dicom", "*"),)):
                pydicom.dcmwrite(out / f"{ds.SOPInstanceUID}.dcm", ds)

        methods = {"radviewer C-GET": ("C-GET", ours("get")), "getscu": ("C-GET", getscu),
                   "radviewer C-MOVE": ("C-MOVE", ours("move")), "movescu": ("C-MOVE", movescu),
                   "radviewer WADO-RS": ("WADO-RS", ours("wado")),
                   "dicomweb-client loop": ("WADO-RS", web_loop)}
        from viewer.pacs.retrieve import plan

        plans: list[float] = []
        times: dict[str, list[float]] = {k: [] for k in methods}
        first: dict[str, list[float]] = {k: [] for k in methods}
        cpu: dict[str, list[float]] = {k: [] for k in methods}
        loads = []
        for rnd in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for name, (_, fn) in methods.items():
                out = work / f"{name.replace(' ', '_')}-{rnd}"
                c = _cpu()
                t = time.perf_counter()
                f = fn(out)
                times[name].append(time.perf_counter() - t)
                cpu[name].append(_cpu() - c)
                n = _count(out)
                if n != len(files):
                    odd = sorted(p.name for p in out.rglob("*") if p.is_file()
                                 and not p.name.endswith(".dcm"))[:5]
                    print(f"  ! {name}: {n} files, expected {len(files)} (not .dcm: {odd})")
                if f is not None:
                    first[name].append(f)
                shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            plan(node, StudyCache(work / f"plan-{rnd}"), study)
            plans.append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        best = min(med.values())
        print(f"\n{len(files)} instances, {args.rounds} rounds, load average (1 min) "
              f"{min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} CPUs (`uptime`)")
        print(f"{'method':<22}{'protocol':<9}{'median s':>9}{'inst/s':>8}{'x fastest':>10}"
              f"{'x best of protocol':>19}{'first on disk s':>16}{'client CPU s':>13}")
        for name, (proto, _) in methods.items():
            proto_best = min(med[k] for k, (p, _) in methods.items() if p == proto)
            f = f"{statistics.median(first[name]):.3f}" if first[name] else "-"
            print(f"{name:<22}{proto:<9}{med[name]:>9.2f}{len(files) / med[name]:>8.0f}"
                  f"{med[name] / best:>10.2f}{med[name] / proto_best:>19.2f}{f:>16}"
                  f"{statistics.median(cpu[name]):>13.2f}")
        print(f"\nradviewer's plan (C-FIND before the transfer, part of its C-GET and C-MOVE "
              f"times; a fresh study: one STUDY-level answer): "
              f"median {statistics.median(plans):.3f} s")
        print("\nper-round ratios radviewer / reference (paired):")
        for ours_name, ref in (("radviewer C-GET", "getscu"), ("radviewer C-MOVE", "movescu"),
                               ("radviewer WADO-RS", "dicomweb-client loop")):
            ratios = [a / b for a, b in zip(times[ours_name], times[ref], strict=True)]
            print(f"  {ours_name} / {ref}: " + ", ".join(f"{r:.2f}" for r in ratios))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
