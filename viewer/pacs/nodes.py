"""Archives as configured nodes: a DIMSE node (AE title, host, port) or a DICOMweb endpoint.

Nodes are frozen dataclasses that load and save as plain dicts (the window keeps them in
QSettings, the command line in :func:`viewer.pacs.locations.config_file`). Secrets (password,
bearer token) never appear in ``repr``, ``str``, logs or exception messages: their fields are
``repr=False`` and :meth:`describe` names a node by its name and address only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from viewer.pacs.errors import PacsConfigError

DEFAULT_AE_TITLE = "RADVIEWER"
DEFAULT_SCP_PORT = 11112
# PS3.5 6.2: AE titles are up to 16 characters of the default repertoire, no backslash or
# control characters; leading/trailing spaces are not significant.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def check_ae_title(title: str, what: str = "AE title") -> str:
    """``title`` stripped, or :class:`PacsConfigError` when it is not a valid AE title."""
    t = str(title).strip()
    if not t or not _AE_TITLE.match(t):
        raise PacsConfigError(f"{what} {title!r} is not a valid AE title: 1 to 16 printable "
                              "ASCII characters, no backslash")
    return t


def _check_port(port: Any, what: str) -> int:
    try:
        p = int(port)
    except (TypeError, ValueError):
        raise PacsConfigError(f"{what} {port!r} is not a port number (1-65535)") from None
    if not 0 < p < 65536:
        raise PacsConfigError(f"{what} {p} is not a port number (1-65535)")
    return p


@dataclass(frozen=True)
class DimseNode:
    """A DICOM archive reached with DIMSE (C-ECHO/FIND/GET/MOVE/STORE).

    ``our_ae_title`` is this station's calling AE title and the title of its Storage SCP;
    ``scp_port`` is the TCP port that SCP listens on (the archive must know this station
    under ``our_ae_title`` at this host and port for C-MOVE). TLS uses ``ca_file`` to check
    the archive's certificate and ``cert_file``/``key_file`` (PEM) to present ours.
    """

    name: str
    ae_title: str
    host: str
    port: int = 104
    our_ae_title: str = DEFAULT_AE_TITLE
    scp_port: int = DEFAULT_SCP_PORT
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    kind: str = field(default="dimse", init=False)

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise PacsConfigError("a node needs a name")
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, "the archive's"))
        object.__setattr__(self, "our_ae_title",
                           check_ae_title(self.our_ae_title, "this station's"))
        object.__setattr__(self, "port", _check_port(self.port, f"{self.name}: port"))
        object.__setattr__(self, "scp_port", _check_port(self.scp_port,
                                                         f"{self.name}: Storage SCP port"))
        if not str(self.host).strip():
            raise PacsConfigError(f"{self.name}: give the archive's host name or address")

    def describe(self) -> str:
        """``name (AE@host:port)``, safe for logs and messages."""
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port}{', TLS' if self.tls else ''})"


@dataclass(frozen=True)
class DicomWebNode:
    """A DICOMweb endpoint (QIDO-RS, WADO-RS, STOW-RS under one base URL), with an optional
    bearer token or HTTP basic auth (``username`` + ``password``)."""

    name: str
    url: str
    token: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    kind: str = field(default="dicomweb", init=False)

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise PacsConfigError("a node needs a name")
        if not re.match(r"^https?://[^/\s]+", str(self.url)):
            raise PacsConfigError(f"{self.name}: the base URL must start with http:// or "
                                  "https:// (e.g. https://pacs.example.org/dicom-web)")
        if "@" in self.url.split("/")[2]:
            raise PacsConfigError(f"{self.name}: put the user name and password in their own "
                                  "fields, not in the URL")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def describe(self) -> str:
        auth = " (token)" if self.token else " (basic auth)" if self.username else ""
        # A query string may carry a key (?apikey=...): never shown.
        return f"{self.name} ({self.url.split('?')[0]}{auth})"


Node = DimseNode | DicomWebNode


def node_to_dict(node: Node) -> dict[str, Any]:
    """A plain dict (JSON/TOML/QSettings), secrets included: store it where only the user
    can read it."""
    return asdict(node)


def node_from_dict(d: dict[str, Any]) -> Node:
    """The node a :func:`node_to_dict` dict describes; unknown keys are refused (a typo
    would otherwise silently drop a setting)."""
    d = dict(d)
    kind = d.pop("kind", "dimse")
    cls = {"dimse": DimseNode, "dicomweb": DicomWebNode}.get(kind)
    if cls is None:
        raise PacsConfigError(f"node kind {kind!r} is not 'dimse' or 'dicomweb'")
    names = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(d) - names)
    if unknown:
        raise PacsConfigError(f"node {d.get('name', '?')!r}: unknown setting(s) "
                              f"{', '.join(unknown)}; known: {', '.join(sorted(names))}")
    missing = [f.name for f in fields(cls) if f.init and f.name not in d
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise PacsConfigError(f"node {d.get('name', '?')!r}: missing {', '.join(missing)}")
    return cls(**d)


def load_config(path: str | os.PathLike) -> list[Node]:
    """Nodes from a JSON or TOML file: ``{"nodes": [{...}, ...]}`` (TOML: ``[[nodes]]``)."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise PacsConfigError(f"{p}: no archive configuration; create it (README ▸ Archives "
                              "(PACS)) or give the node on the command line") from None
    except OSError as exc:
        raise PacsConfigError(f"{p}: cannot read: {exc.strerror}") from None
    import tomllib  # here: the window reads its nodes from QSettings, not from TOML

    try:
        doc = tomllib.loads(text.decode()) if p.suffix == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PacsConfigError(f"{p}: not valid {'TOML' if p.suffix == '.toml' else 'JSON'} "
                              f"({type(exc).__name__}); fix the file") from None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise PacsConfigError(f"{p}: expected a list 'nodes' of archives")
    out = [node_from_dict(n) for n in nodes]
    seen: set[str] = set()
    for n in out:
        if n.name in seen:
            raise PacsConfigError(f"{p}: two nodes are named {n.name!r}")
        seen.add(n.name)
    return out


def save_config(path: str | os.PathLike, nodes: list[Node]) -> None:
    """Write ``nodes`` as JSON, atomically, readable by the user only (it may hold secrets)."""
    from viewer.export.atomic import atomic_open

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"nodes": [node_to_dict(n) for n in nodes]}, indent=2).encode()
    with atomic_open(p, "wb", overwrite=True) as f:
        f.write(data)
    os.chmod(p, 0o600)


def find_node(nodes: list[Node], name: str) -> Node:
    """The node called ``name``; :class:`PacsConfigError` lists the known ones."""
    for n in nodes:
        if n.name == name:
            return n
    known = ", ".join(n.name for n in nodes) or "none configured"
    raise PacsConfigError(f"no archive named {name!r} (known: {known})")
