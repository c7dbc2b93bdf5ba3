"""Model manifests (``models/<id>/manifest.json``, schema ``radviewer.model/1``).

The schema is documented in ``models/README.md``; it follows MONAI bundle metadata
(``network_data_format``) where it can. Parsing checks every field the runner relies on, so a
broken manifest fails here with the file name and the field, not later inside onnxruntime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}"


def _need(d: dict, key: str, where: str, kind=None):
    if key not in d:
        raise ModelError(f"{where}: missing field {key!r}")
    v = d[key]
    if kind is not None and not isinstance(v, kind):
        raise ModelError(f"{where}: field {key!r} should be {getattr(kind, '__name__', kind)}")
    return v


def _resources(data: dict, where: str) -> dict:
    """Optional measured cost of one run: ``memory_gb`` (peak RSS), ``seconds`` (whole run)
    and ``measured_on`` (the machine, in words); shown in the model picker."""
    res = data.get("resources", {})
    if not isinstance(res, dict):
        raise ModelError(f"{where}: field 'resources' should be an object")
    for key in ("memory_gb", "seconds"):
        if key in res and not isinstance(res[key], int | float):
            raise ModelError(f"{where}: resources {key!r} should be a number")
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
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{where}: malformed value ({exc})") from exc


def _parse(data: dict, folder: Path, where: str) -> ModelManifest:
    if data.get("schema") != SCHEMA:
        raise ModelError(f"{where}: schema is {data.get('schema')!r}; radviewer reads {SCHEMA}")
    task = _need(data, "task", where, str)
    mode = _need(data, "mode", where, str)
    if task not in TASKS:
        raise ModelError(f"{where}: task {task!r} is not one of {TASKS}")
    if mode not in MODES:
        raise ModelError(f"{where}: mode {mode!r} is not one of {MODES}")
    if (task, mode) not in _SUPPORTED:
        raise ModelError(f"{where}: radviewer runs 2d classification and 3d segmentation "
                         f"models; this one is {mode} {task}")
    weights = _need(data, "weights", where, dict)
    if not weights.get("file") and not (weights.get("package") and weights.get("resource")):
        raise ModelError(f"{where}: weights need 'file', or 'package' and 'resource'")
    sha = str(_need(weights, "sha256", where + " weights", str)).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ModelError(f"{where}: weights sha256 should be 64 hex digits")
    inp = _need(data, "input", where, dict)
    layout = _need(inp, "layout", where + " input", str).upper()
    if layout not in LAYOUTS[mode]:
        raise ModelError(f"{where}: layout {layout} does not fit a {mode} model "
                         f"({' or '.join(LAYOUTS[mode])})")
    intensity = tuple(inp.get("intensity", ()))
    for op in intensity:
        if not isinstance(op, dict) or op.get("op") not in INTENSITY_OPS:
            name = op.get("op") if isinstance(op, dict) else op
            raise ModelError(f"{where}: unknown intensity op {name!r} "
                             f"(one of {', '.join(INTENSITY_OPS)})")
        for key in _OP_PARAMS[op["op"]]:
            if not isinstance(op.get(key), int | float):
                raise ModelError(f"{where}: intensity op {op['op']!r} needs a number "
                                 f"{key!r}")
    grid = size = None
    if mode == "3d":
        g = _need(inp, "grid", where + " input", dict)
        grid = Grid(tuple(int(v) for v in g["shape"]), tuple(float(v) for v in g["spacing_mm"]),
                    str(g["orientation"]).upper(), str(g.get("array_axes", "kji")).lower())
        if grid.array_axes not in ("kji", "ijk"):
            raise ModelError(f"{where}: grid array_axes should be 'kji' or 'ijk'")
        if len(grid.shape) != 3 or len(grid.spacing_mm) != 3:
            raise ModelError(f"{where}: grid shape and spacing_mm need 3 values each")
        o = grid.orientation
        if len(o) != 3 or sorted(_AXIS.get(c, "?") for c in o) != ["x", "y", "z"]:
            raise ModelError(f"{where}: grid orientation {o!r} should be three letters, one "
                             f"of R/L, A/P, S/I each (e.g. 'LIA')")
    else:
        size = tuple(int(v) for v in _need(inp, "size", where + " input", list))
        if len(size) != 2:
            raise ModelError(f"{where}: input size should be [height, width]")
    out = _need(data, "output", where, dict)
    labels = tuple(Label(int(lab["value"]), str(lab["name"]), tuple(int(c) for c in lab["color"]))
                   for lab in _need(out, "labels", where + " output", list))
    if not labels:
        raise ModelError(f"{where}: output has no labels")
    values = [lab.value for lab in labels]
    if len(set(values)) != len(values) or not all(0 <= v <= 255 for v in values):
        raise ModelError(f"{where}: label values should be distinct and within 0..255")
    if any(len(lab.color) != 3 for lab in labels):
        raise ModelError(f"{where}: label colours should be [r, g, b]")
    activation = str(out.get("activation", "none"))
    if activation not in ACTIVATIONS:
        raise ModelError(f"{where}: activation {activation!r} is not one of {ACTIVATIONS}")
    resize = str(inp.get("resize", "bilinear"))
    if resize not in RESIZE_FILTERS:
        raise ModelError(f"{where}: resize {resize!r} is not one of {RESIZE_FILTERS}")
    return ModelManifest(
        id=str(_need(data, "id", where, str)), name=str(_need(data, "name", where, str)),
        version=str(_need(data, "version", where, str)), task=task, mode=mode, folder=folder,
        weights_file=weights.get("file"), weights_package=weights.get("package"),
        weights_resource=weights.get("resource"), sha256=sha,
        input_name=str(inp.get("name", "input")), layout=layout,
        channels=int(inp.get("channels", 1)), size=size,  # type: ignore[arg-type]
        resize=str(inp.get("resize", "bilinear")), grid=grid, intensity=intensity,
        output_name=str(out.get("name", "")), activation=str(out.get("activation", "none")),
        labels=labels, applicability=dict(data.get("applicability", {})),
        intended_use=str(data.get("intended_use", "")), limits=str(data.get("limits", "")),
        licence=str(data.get("licence", "")), source=str(data.get("source", "")),
        citation=str(data.get("citation", "")), resources=_resources(data, where), raw=data,
    )


def load_manifest(path: Path) -> ModelManifest:
    """Read and check ``path`` (a manifest.json)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the manifest ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a manifest is a JSON object")
    return parse_manifest(data, path.parent, str(path))
