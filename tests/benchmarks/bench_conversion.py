"""The bundled brainchop ONNX models against torch on the full 256^3 grid, with anatomical
sanity checks (a benchmark script: prints figures and PASS/FAIL lines, exits 1 on a FAIL;
pytest does not collect it).

    python tests/benchmarks/bench_conversion.py [--models tissue,structures,mindgrab]
                                                [--threads 2]

Needs the conversion tools (``scripts/test --convert`` installs them: torch, safetensors, onnx,
nibabel) and ``../shared/models-src/brainchop-meshnet``. About 3 minutes and 6 GB peak on 2
cores. The test suite runs the same comparison on a 96^3 centre crop
(tests/ai/test_meshnet_conversion.py).

Sanity checks that would catch a wrong axis order or intensity transform: adult grey/white
matter volumes for the tissue model, every structure present for the 17-structure model (with
the array axes wrong the network still finds cortex and white matter but misses the deep grey
nuclei entirely), a plausible brain mask for mindgrab.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "ai"))

from conversion_check import MODEL_IDS, REPO, compare, load_converter, manifest  # noqa: E402


def _ml(model_id: str, counts) -> dict[str, float]:
    names = [lab["name"] for lab in manifest(model_id)["output"]["labels"]]
    return dict(zip(names, counts / 1000.0, strict=True))  # 1 mm^3 voxels


def sanity(model_id: str, counts) -> list[str]:
    """Failures of the anatomical checks (empty: passed)."""
    ml, bad = _ml(model_id, counts), []
    if model_id == "brainchop-tissue":
        # Adults: grey matter ~500-850 mL, white matter ~350-650 mL, GM/WM ~1.1-1.8.
        # (t1_crop: GM 735 mL, WM 518 mL.)
        wm, gm = ml["White Matter"], ml["Grey Matter"]
        if not (450 < gm < 950 and 300 < wm < 750 and 1.0 < gm / wm < 2.0):
            bad.append(f"tissue volumes not adult: GM {gm:.0f} mL, WM {wm:.0f} mL")
    elif model_id == "brainchop-structures":
        missing = [n for n, v in ml.items() if v < 0.5]
        if missing:
            bad.append(f"structures not found: {missing}")
        if not (8 < ml["Thalamus"] < 30 and 4 < ml["Hippocampus"] < 14):
            bad.append(f"thalamus {ml['Thalamus']:.1f} mL, hippocampus "
                       f"{ml['Hippocampus']:.1f} mL: not adult sizes")
        if not (350 < ml["Cerebral-White-Matter"] < 750 and 350 < ml["Cerebral-Cortex"] < 800):
            bad.append("cerebral white matter / cortex volumes not adult")
    elif model_id == "brainchop-mindgrab":
        # Intracranial volume down to the brain stem: adults ~1200-1900 mL (t1_crop: 1606 mL).
        brain = counts[1] / 1000.0
        if not 1100 < brain < 2000:
            bad.append(f"brain mask {brain:.0f} mL: not a brain")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tissue,structures,mindgrab")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--src", type=Path,
                    default=REPO.parent / "shared" / "models-src" / "brainchop-meshnet")
    args = ap.parse_args()
    if not (args.src / "t1_crop.nii.gz").is_file():
        print(f"{args.src}/t1_crop.nii.gz not found (see README, Test data)", file=sys.stderr)
        return 2
    conv = load_converter()
    wanted = [m if m.startswith("brainchop-") else f"brainchop-{m}"
              for m in args.models.split(",")]
    failed = False
    for model_id in wanted:
        if model_id not in MODEL_IDS:
            print(f"unknown model {model_id}", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        r = compare(model_id, args.src, conv, crop=None, threads=args.threads)
        dt = time.perf_counter() - t0
        problems = sanity(model_id, r["counts"])
        if r["max_diff"] > 1e-3 or r["agreement"] < 0.999:
            problems.append("torch and ONNX Runtime disagree")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        vols = ", ".join(f"{k} {v:.1f}" for k, v in _ml(model_id, r["counts"]).items()
                         if k.lower() not in ("background", "unknown"))
        print(f"{model_id}: max |torch - ort| {r['max_diff']:.2e}, label agreement "
              f"{r['agreement']:.5f}, {dt:.1f} s, peak {peak:.2f} GiB so far")
        print(f"  volumes (mL): {vols}")
        print(f"  {'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
