"""The PyInstaller one-folder app builds from packaging/radviewer.spec and passes its smoke test.

Opt-in: ``scripts/test --package`` (CI runs it). Builds into a temporary folder (about half a
minute on 2 cores), then runs packaging/smoke.sh on the result: the window starts offscreen
with the sample study and paints its first image, and the same binary runs the tissue model
headless and writes a SEG and a PNG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from skip_reasons import NO_PACKAGE

ROOT = Path(__file__).resolve().parents[2]

# Opt-in (about a minute and 360 MB of disk): scripts/test --package sets this; CI runs it.
pytestmark = pytest.mark.skipif(os.environ.get("RADVIEWER_TEST_PACKAGE") != "1",
                                reason=NO_PACKAGE)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    if shutil.which("ldd") is None:
        pytest.skip("the smoke test needs ldd (Linux)")
    pytest.importorskip("PyInstaller", reason=f"PyInstaller is not installed; {NO_PACKAGE}")
    out = tmp_path_factory.mktemp("pyinstaller")
    proc = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(out / "dist"), "--workpath", str(out / "build"),
         str(ROOT / "packaging" / "radviewer.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    app = out / "dist" / "radviewer"
    size = sum(f.stat().st_size for f in app.rglob("*") if f.is_file())
    print(f"bundle: {size / 2**20:.0f} MiB")
    return app


def test_bundle_holds_models_sample_and_desktop_entry(bundle):
    internal = bundle / "_internal"
    assert (bundle / "radviewer").is_file() and os.access(bundle / "radviewer", os.X_OK)
    assert (internal / "models" / "brainchop-tissue" / "model.onnx").is_file()
    assert len(list((internal / "resources" / "sample").iterdir())) == 232
    desktop = (bundle / "radviewer.desktop").read_text()
    assert "Exec=radviewer" in desktop and "Icon=radviewer" in desktop
    assert (bundle / "radviewer.png").stat().st_size > 1000
    # The libraries' licence texts travel with them (Qt's LGPL among them).
    assert list(internal.glob("pyside6_essentials-*.dist-info"))
    assert list(internal.glob("pydicom-*.dist-info/licenses/LICENSE"))
    # Unused Qt modules and the conversion/test libraries stay out.
    assert not list(internal.glob("PySide6/QtNetwork*.so"))
    assert not list(internal.glob("PySide6/QtQml*.so"))
    assert not (internal / "PySide6" / "Qt" / "translations").exists()
    assert not (internal / "torch").exists()
    # What the reading and archive features import lazily travels with the app: registration
    # (SimpleITK), DIMSE (pynetdicom) and DICOMweb (dicomweb_client), with their licences.
    assert (internal / "SimpleITK").is_dir()
    for dist in ("simpleitk", "pynetdicom", "dicomweb_client", "dicom_anonymizer", "isal"):
        assert list(internal.glob(f"{dist}-*.dist-info")), dist
    # The compiled resampling travels with the app where it was built here.
    from viewer.ai import resample_plan

    if resample_plan.NATIVE is not None:
        assert list((internal / "viewer" / "ai").glob("_resample.*.so"))


def test_built_app_reaches_archives_with_pynetdicom(bundle, tmp_path):
    """The bundled pynetdicom runs: an echo to a port nobody listens on is one plain line."""
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.run([str(bundle / "radviewer"), "pacs", "echo", "PACS@127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nothing listening" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "ModuleNotFound" not in proc.stderr


def test_built_app_passes_smoke_test(bundle):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    proc = subprocess.run(["bash", str(ROOT / "packaging" / "smoke.sh"),
                           str(bundle / "radviewer")],
                          capture_output=True, text=True, timeout=600, env=env)
    print(proc.stdout[-2000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "first image:" in proc.stdout
    assert "smoke test passed" in proc.stdout
