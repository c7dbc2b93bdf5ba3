"""What the ruler reports for a known distance, for each spacing source (prints, asserts nothing).

    python tests/benchmarks/bench_measure.py [--markdown] [--repeat 2000]

Each row writes a real file (pydicom-data's CR chest RG1 re-labelled, pydicom's ultrasound
test files as published; see tests/spacing_files.py), scans it as the window does, and draws a
ruler across a known 100-pixel distance along a row; the CT row uses the shared LIDC CT
(200 pixels) when ``../shared/data`` is there. ``expected`` is the distance the attributes
define. ``--markdown`` prints the table README.md shows. Then the time one ruler label takes
(rule plus text), in microseconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

RG1 = "RG1 crop"
CR = "1.2.840.10008.5.1.4.1.1.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
# (source, file, attributes written, pydicom keywords, known distance px, expected length)
CASES = [
    ("Pixel Spacing", "LIDC CT (volume)", "Pixel Spacing 0.78125", None, 200, "156.25 mm"),
    ("Pixel Spacing", RG1 + " as DX", "Pixel Spacing 0.15", {"PixelSpacing": [0.15, 0.15]},
     100, "15.00 mm"),
    ("Pixel Spacing, calibrated", RG1 + " as DX", "Pixel Spacing 0.15, Calibration Type GEOMETRY",
     {"PixelSpacing": [0.15, 0.15], "ImagerPixelSpacing": [0.2, 0.2],
      "PixelSpacingCalibrationType": "GEOMETRY"}, 100, "15.00 mm"),
    ("Pixel Spacing = Imager Pixel Spacing", RG1 + " as DX", "both 0.2",
     {"PixelSpacing": [0.2, 0.2], "ImagerPixelSpacing": [0.2, 0.2]}, 100, "20.00 mm"),
    ("Imager Pixel Spacing", RG1 + " as DX", "Imager Pixel Spacing 0.2",
     {"ImagerPixelSpacing": [0.2, 0.2]}, 100, "20.00 mm"),
    ("Imager Pixel Spacing / magnification", RG1 + " as DX",
     "Imager Pixel Spacing 0.2, magnification 1.1",
     {"ImagerPixelSpacing": [0.2, 0.2], "EstimatedRadiographicMagnificationFactor": 1.1},
     100, "18.18 mm"),
    ("Nominal Scanned Pixel Spacing", RG1 + " as SC", "Nominal Scanned Pixel Spacing 0.5",
     {"NominalScannedPixelSpacing": [0.5, 0.5], "Modality": "OT", "sop_class": SC},
     100, "50.00 mm"),
    ("Ultrasound region", "gdcm-US-ALOKA-16", "inside region 1 (0.03827 cm/px)", "us-inside",
     100, "38.27 mm"),
    ("Ultrasound regions, crossed", "gdcm-US-ALOKA-16", "region 1 into region 2", "us-across",
     100, "100 px"),
    ("Pixel Spacing 0 (absent, warned)", "RG1 as published", "Pixel Spacing 0.000\\0.000",
     "rg1", 100, "100 px"),
    ("none", RG1 + " as CR", "no spacing attribute", {"Modality": "CR", "sop_class": CR},
     100, "100 px"),
]


def _stack_of(case, folder: Path):
    from spacing_files import US_TWO_REGIONS, projection_file, real_file, ultrasound_file

    from viewer.dicom.scan import scan_folder

    attrs = case[3]
    if attrs is None:
        data = REPO.parent / "shared" / "data" / "ct-chest-lidc0314"
        if not data.is_dir():
            return None
        return scan_folder(str(data)).stacks()[0]
    if attrs in ("us-inside", "us-across"):
        ultrasound_file(folder, US_TWO_REGIONS)
    elif attrs == "rg1":
        import shutil

        folder.mkdir(parents=True)
        shutil.copy(real_file("RG1_UNCI.dcm"), folder / "rg1.dcm")
    else:
        attrs = dict(attrs)
        kw = {"modality": attrs.pop("Modality", "DX")}
        if "sop_class" in attrs:
            kw["sop_class"] = attrs.pop("sop_class")
        projection_file(folder / "image.dcm", **kw, **attrs)
    [stack] = scan_folder(str(folder)).stacks()
    return stack


def _ruler(case, n: int):
    from viewer.display.measure import Measurement

    x0 = 300.5 if case[3] == "us-across" else 60.5
    return Measurement("ruler", (x0, 200.5), (x0 + n, 200.5))


def run(markdown: bool, repeat: int) -> None:
    from viewer.dicom.spacing import for_stack
    from viewer.display.measure import describe

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(CASES):
            stack = _stack_of(case, Path(tmp) / str(i))
            if stack is None:
                rows.append((*case[:3], f"{case[4]} px", "(no shared data)", case[5], "-"))
                continue
            cal = for_stack(stack)
            text = describe(_ruler(case, case[4]), None, cal)
            rows.append((*case[:3], f"{case[4]} px", text, case[5], cal.source.value))
        heads = ("source", "file", "attributes", "known distance", "ruler reads", "expected",
                 "info pixel_spacing_source")
        if markdown:  # README's columns: the info key is in the plain table only
            print("| " + " | ".join(heads[:6]) + " |")
            print("|" + "---|" * 6)
            for r in rows:
                print("| " + " | ".join(r[:6]) + " |")
        else:
            widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
            for r in (heads, *rows):
                print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        stack = _stack_of(CASES[5], Path(tmp) / "timing")
        m = _ruler(CASES[5], 100)
        t = time.perf_counter()
        for _ in range(repeat):
            describe(m, None, for_stack(stack))
        us = (time.perf_counter() - t) / repeat * 1e6
        print(f"\none ruler label (rule + text), mean of {repeat}: {us:.1f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print README.md's table")
    ap.add_argument("--repeat", type=int, default=2000)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on the test files' quirks
        run(args.markdown, args.repeat)


if __name__ == "__main__":
    main()
