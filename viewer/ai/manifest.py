"""Model manifests (``models/<id>/manifest.json``, schema ``radviewer.model/1``).

The schema is documented in ``models/README.md``; it follows MONAI bundle metadata
(``network_data_format``) where it can. Parsing checks every field the runner relies on, so a
broken manifest fails here with the file name and the field, not later inside onnxruntime.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from viewer.ai.model_files import MANIFEST_MAX_BYTES, check_relative, read_regular
from viewer.ai.rules import Rules, parse_rules
from viewer.errors import ModelError

SCHEMA = "radviewer.model/1"
_AXIS = {"R": "x", "L": "x", "A": "y", "P": "y", "S": "z", "I": "z"}
TASKS = ("classification", "segmentation")
MODES = ("2d", "3d")
LAYOUTS = {"2d": ("NCHW", "NHWC"), "3d": ("NCDHW", "NDHWC")}
INTENSITY_OPS = ("percentile_clip", "minmax", "zscore", "window", "percentile_window", "scale")
# The parameters each intensity op needs (numbers).
_OP_PARAMS = {"percentile_clip": ("low", "high"), "minmax": (), "zscore": (),
              "window": ("center", "width"), "percentile_window": ("low", "high"),
              "scale": ("factor",)}
# What the runner supports: 2-D models classify slices, 3-D models segment volumes.
_SUPPORTED = {("classification", "2d"), ("segmentation", "3d")}
ACTIVATIONS = ("softmax", "sigmoid", "none")
RESIZE_FILTERS = ("bicubic", "bilinear", "nearest", "lanczos")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # also a settings key and a file name part
# Limits on what a manifest may ask for, so that a typo cannot make the runner allocate
# hundreds of GB: a 3-D grid of at most 1024 voxels a side and 512**3 voxels (0.5 GiB as
# float32), an output of at most 2**32 values (grid voxels x labels, 16 GiB as float32);
# 2-D inputs of at most 4096 pixels a side; voxel spacing from 0.01 to 100 mm.
MAX_GRID_AXIS = 1024
MAX_GRID_VOXELS = 512**3
MAX_OUTPUT_VALUES = 2**32
MAX_SIZE_2D = 4096
MAX_DEPTH = 32  # JSON nesting; the bundled manifests use 5
SPACING_RANGE_MM = (0.01, 100.0)


@dataclass(frozen=True)
class Label:
    value: int  # output channel / label value
    name: str
    color: tuple[int, int, int]  # RGB 0-255


@dataclass(frozen=True)
class Grid:
    """The 3-D grid a volume model expects: voxel axes i, j, k point along ``orientation``
    (e.g. "LIA": i Left, j Inferior, k Anterior); the array is indexed as ``array_axes`` says."""

    shape: tuple[int, int, int]  # (i, j, k) sizes
    spacing_mm: tuple[float, float, float]
    orientation: str
    array_axes: str = "kji"  # "kji": array[k, j, i]; "ijk": array[i, j, k] (nibabel order)


@dataclass(frozen=True)
class ModelManifest:
    id: str
    name: str
    version: str
    task: str
    mode: str
    folder: Path
    weights_file: str | None  # relative to ``folder``
    weights_package: str | None  # installed distribution holding the weights
    weights_resource: str | None  # path inside that distribution
    sha256: str
    input_name: str
    layout: str
    channels: int
    size: tuple[int, int] | None  # 2-D models: (height, width)
    resize: str  # 2-D resize filter: "bicubic", "bilinear", "nearest"
    grid: Grid | None  # 3-D models
    intensity: tuple[dict, ...]
    output_name: str
    activation: str  # "softmax", "sigmoid" or "none" (already probabilities)
    labels: tuple[Label, ...]
    applicability: dict
    intended_use: str
    limits: str
    licence: str
    source: str
    citation: str
    resources: dict = field(default_factory=dict)  # measured cost: memory_gb, seconds, measured_on
    rules: Rules = field(default_factory=Rules)  # plane, coverage, calibration, plausibility
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}"


def _need(d: dict, key: str, where: str, kind=None):
    if not isinstance(d, dict):
        raise ModelError(f"{where}: should be a JSON object")
    if key not in d:
        raise ModelError(f"{where}: missing field {key!r}")
    v = d[key]
    if kind is not None and not isinstance(v, kind):
        raise ModelError(f"{where}: field {key!r} should be {getattr(kind, '__name__', kind)}")
    return v


def _number(v, where: str, field: str, lo: float | None = None, hi: float | None = None,
            above: float | None = None) -> float:
    """``v`` as a finite float within [lo, hi] (and > ``above``), else a ModelError naming
    ``field``. JSON booleans are not numbers; NaN and Infinity (which Python's json reads) are
    refused."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ModelError(f"{where}: {field} should be a finite number, not {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi) or (
            above is not None and v <= above):
        rng = [f"more than {above:g}"] if above is not None else []
        rng += [f"at least {lo:g}"] if lo is not None else []
        rng += [f"at most {hi:g}"] if hi is not None else []
        raise ModelError(f"{where}: {field} is {v!r}; it should be {' and '.join(rng)}")
    return float(v)


def _integer(v, where: str, field: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ModelError(f"{where}: {field} is {v!r}; it should be an integer from {lo} to {hi}")
    return v


def _ints(v, n: int, where: str, field: str, lo: int, hi: int) -> tuple[int, ...]:
    if not isinstance(v, list) or len(v) != n:
        raise ModelError(f"{where}: {field} should be a list of {n} integers")
    return tuple(_integer(x, where, f"{field}[{i}]", lo, hi) for i, x in enumerate(v))


def _resources(data: dict, where: str) -> dict:
    """Optional measured cost of one run: ``memory_gb`` (peak RSS), ``seconds`` (whole run),
    ``measured_on`` (the machine, in words) and ``reference_gflops`` (that machine's
    :func:`viewer.ai.calibration.measure_gflops`); shown in the model picker."""
    res = data.get("resources", {})
    if not isinstance(res, dict):
        raise ModelError(f"{where}: field 'resources' should be an object")
    for key in ("memory_gb", "seconds", "reference_gflops"):
        if key in res:
            _number(res[key], where, f"resources {key!r}", lo=0)
    return dict(res)


def parse_manifest(data: dict, folder: Path, where: str = "manifest") -> ModelManifest:
    """Check ``data`` and build the manifest; every problem is a ModelError naming ``where``
    and the field (never a KeyError, so one bad user model cannot hide the others)."""
    try:
        return _parse(data, folder, where)
    except ModelError:
        raise
    except KeyError as exc:
        raise ModelError(f"{where}: missing field {exc.args[0]!r}") from exc
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ModelError(f"{where}: malformed value ({exc})") from exc


def _intensity(inp: dict, where: str) -> tuple[dict, ...]:
    """The intensity ops, each with the finite numbers it needs in their valid range."""
    ops = inp.get("intensity", [])
    if not isinstance(ops, list):
        raise ModelError(f"{where}: input intensity should be a list of operations")
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in INTENSITY_OPS:
            name = op.get("op") if isinstance(op, dict) else op
            raise ModelError(f"{where}: unknown intensity op {name!r} "
                             f"(one of {', '.join(INTENSITY_OPS)})")
        name = op["op"]
        for key in _OP_PARAMS[name]:
            if key not in op:
                raise ModelError(f"{where}: intensity op {name!r} needs a number {key!r}")
            _number(op[key], where, f"intensity op {name!r} {key!r}")
        if name in ("percentile_clip", "percentile_window"):
            low = _number(op["low"], where, f"intensity op {name!r} 'low'", 0, 100)
            high = _number(op["high"], where, f"intensity op {name!r} 'high'", 0, 100)
            if low >= high:
                raise ModelError(f"{where}: intensity op {name!r}: 'low' ({low:g}) should be "
                                 f"below 'high' ({high:g})")
        elif name == "window":
            _number(op["width"], where, "intensity op 'window' 'width'", above=0)
        elif name == "scale" and op["factor"] == 0:
            raise ModelError(f"{where}: intensity op 'scale' 'factor' is 0 (every pixel 0)")
    return tuple(ops)


def _grid(inp: dict, where: str, n_labels: int) -> Grid:
    g = _need(inp, "grid", where + " input", dict)
    shape = _ints(_need(g, "shape", where + " input grid"), 3, where, "grid shape", 1,
                  MAX_GRID_AXIS)
    if math.prod(shape) > MAX_GRID_VOXELS:
        raise ModelError(f"{where}: grid shape {list(shape)} is {math.prod(shape):,} voxels; "
                         f"radviewer runs grids of at most {MAX_GRID_VOXELS:,}")
    if math.prod(shape) * n_labels > MAX_OUTPUT_VALUES:
        raise ModelError(f"{where}: grid shape {list(shape)} with {n_labels} labels needs an "
                         f"output of {math.prod(shape) * n_labels:,} values; radviewer allows "
                         f"at most {MAX_OUTPUT_VALUES:,}")
    spacing = _need(g, "spacing_mm", where + " input grid")
    if not isinstance(spacing, list) or len(spacing) != 3:
        raise ModelError(f"{where}: grid spacing_mm should be a list of 3 numbers")
    spacing_mm = tuple(_number(v, where, f"grid spacing_mm[{i}]", *SPACING_RANGE_MM)
                       for i, v in enumerate(spacing))
    o = str(_need(g, "orientation", where + " input grid", str)).upper()
    if len(o) != 3 or sorted(_AXIS.get(c, "?") for c in o) != ["x", "y", "z"]:
        raise ModelError(f"{where}: grid orientation {o!r} should be three letters, one "
                         f"of R/L, A/P, S/I each (e.g. 'LIA')")
    axes = str(g.get("array_axes", "kji")).lower()
    if axes not in ("kji", "ijk"):
        raise ModelError(f"{where}: grid array_axes should be 'kji' or 'ijk'")
    return Grid(shape, spacing_mm, o, axes)  # type: ignore[arg-type]


def _labels(out: dict, where: str) -> tuple[Label, ...]:
    raw = _need(out, "labels", where + " output", list)
    if not raw:
        raise ModelError(f"{where}: output has no labels")
    labels = []
    for n, lab in enumerate(raw):
        at = f"output labels[{n}]"
        if not isinstance(lab, dict):
            raise ModelError(f"{where}: {at} should be an object with value, name and color")
        value = _integer(_need(lab, "value", f"{where} {at}"), where, f"{at} value", 0, 255)
        name = _need(lab, "name", f"{where} {at}", str)
        color = _ints(_need(lab, "color", f"{where} {at}"), 3, where, f"{at} color", 0, 255)
        labels.append(Label(value, name, color))  # type: ignore[arg-type]
    values = [lab.value for lab in labels]
    if len(set(values)) != len(values):
        raise ModelError(f"{where}: label values should be distinct")
    return tuple(labels)


def _weights(data: dict, where: str) -> dict:
    weights = _need(data, "weights", where, dict)
    if not weights.get("file") and not (weights.get("package") and weights.get("resource")):
        raise ModelError(f"{where}: weights need 'file', or 'package' and 'resource'")
    if weights.get("file"):
        check_relative(weights["file"], "weights file", where)
    else:
        if not isinstance(weights["package"], str):
            raise ModelError(f"{where}: weights package should be a distribution name")
        check_relative(weights["resource"], "weights resource", where)
    sha = str(_need(weights, "sha256", where + " weights", str)).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ModelError(f"{where}: weights sha256 should be 64 hex digits")
    return {**weights, "sha256": sha}


def _parse(data: dict, folder: Path, where: str) -> ModelManifest:
    if data.get("schema") != SCHEMA:
        raise ModelError(f"{where}: schema is {data.get('schema')!r}; radviewer reads {SCHEMA}")
    model_id = _need(data, "id", where, str)
    if not _ID.fullmatch(model_id):
        raise ModelError(f"{where}: id {model_id!r} should be 1-64 letters, digits, '.', '_' "
                         f"or '-'")
    task = _need(data, "task", where, str)
    mode = _need(data, "mode", where, str)
    if task not in TASKS:
        raise ModelError(f"{where}: task {task!r} is not one of {TASKS}")
    if mode not in MODES:
        raise ModelError(f"{where}: mode {mode!r} is not one of {MODES}")
    if (task, mode) not in _SUPPORTED:
        raise ModelError(f"{where}: radviewer runs 2d classification and 3d segmentation "
                         f"models; this one is {mode} {task}")
    weights = _weights(data, where)
    inp = _need(data, "input", where, dict)
    layout = _need(inp, "layout", where + " input", str).upper()
    if layout not in LAYOUTS[mode]:
        raise ModelError(f"{where}: layout {layout} does not fit a {mode} model "
                         f"({' or '.join(LAYOUTS[mode])})")
    channels = _integer(inp.get("channels", 1), where, "input channels", 1,
                        3 if mode == "2d" else 1)
    if channels == 2:
        raise ModelError(f"{where}: input channels should be 1 (grey) or 3 (grey as RGB)")
    intensity = _intensity(inp, where)
    out = _need(data, "output", where, dict)
    labels = _labels(out, where)
    grid = size = None
    if mode == "3d":
        grid = _grid(inp, where, len(labels))
    else:
        size = _ints(_need(inp, "size", where + " input"), 2, where, "input size", 1,
                     MAX_SIZE_2D)
    activation = str(out.get("activation", "none"))
    if activation not in ACTIVATIONS:
        raise ModelError(f"{where}: activation {activation!r} is not one of {ACTIVATIONS}")
    resize = str(inp.get("resize", "bilinear"))
    if resize not in RESIZE_FILTERS:
        raise ModelError(f"{where}: resize {resize!r} is not one of {RESIZE_FILTERS}")
    app = data.get("applicability", {})
    if not isinstance(app, dict):
        raise ModelError(f"{where}: applicability should be an object")
    modalities = app.get("modality") or []
    if not isinstance(modalities, list) or not all(isinstance(v, str) for v in modalities):
        raise ModelError(f"{where}: applicability modality should be a list of codes, "
                         f"e.g. [\"MR\"]")
    return ModelManifest(
        id=model_id, name=str(_need(data, "name", where, str)),
        version=str(_need(data, "version", where, str)), task=task, mode=mode, folder=folder,
        weights_file=weights.get("file"), weights_package=weights.get("package"),
        weights_resource=weights.get("resource"), sha256=weights["sha256"],
        input_name=str(inp.get("name", "input")), layout=layout,
        channels=channels, size=size,  # type: ignore[arg-type]
        resize=resize, grid=grid, intensity=intensity,
        output_name=str(out.get("name", "")), activation=activation,
        labels=labels, applicability=dict(app),
        intended_use=str(data.get("intended_use", "")), limits=str(data.get("limits", "")),
        licence=str(data.get("licence", "")), source=str(data.get("source", "")),
        citation=str(data.get("citation", "")), resources=_resources(data, where),
        rules=parse_rules(data, where), raw=data,
    )


def load_manifest(path: Path) -> ModelManifest:
    """Read and check ``path`` (a manifest.json): a regular UTF-8 file of at most
    :data:`~viewer.ai.model_files.MANIFEST_MAX_BYTES` holding one JSON object."""
    path = Path(path)
    raw = read_regular(path, MANIFEST_MAX_BYTES, "manifest")
    try:
        text = raw.decode("utf-8-sig")  # a BOM is harmless; other non-UTF-8 bytes are not
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: the manifest is not UTF-8 text (byte {exc.start}); save it "
                         f"as UTF-8") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise ModelError(f"{path}: the JSON is nested too deeply to read") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ModelError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a manifest is a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise ModelError(f"{path}: the JSON is nested more than {MAX_DEPTH} levels deep")
    return parse_manifest(data, path.parent, str(path))


def _depth(value) -> int:
    """Nesting depth of parsed JSON, counted without recursion. A manifest nested just below
    the parser's recursion limit would still break whoever writes it out again (``radviewer
    models --json``), so anything deeper than :data:`MAX_DEPTH` is refused."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d <= MAX_DEPTH:
                todo.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest
