"""A real Orthanc on loopback ports with a throw-away configuration and storage, for the PACS
tests and benchmark. Orthanc is the Debian package ``orthanc`` (plus ``orthanc-dicomweb`` for
QIDO/WADO/STOW); :func:`missing` says why it cannot run here."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC_AET = "ORTHANC"
CLIENT_AET = "RADVIEWER"
_PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
NOT_INSTALLED = ("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb; "
                 ".ci/run does it when it can): the PACS tests against a real archive skip")


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dicomweb_plugin() -> Path | None:
    for d in _PLUGIN_DIRS:
        for p in sorted(Path(d).glob("libOrthancDicomWeb.so*")) if Path(d).is_dir() else ():
            return p
    return None


def missing() -> str | None:
    """Why Orthanc cannot be started here (None when it can)."""
    if shutil.which("Orthanc") is None:
        return NOT_INSTALLED
    if dicomweb_plugin() is None:
        return NOT_INSTALLED.replace("Orthanc is", "Orthanc's DICOMweb plugin is")
    return None


@dataclass
class Orthanc:
    """One running Orthanc: its DICOM and HTTP ports and the process."""

    dicom_port: int
    http_port: int
    process: subprocess.Popen
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, paths) -> list[str]:
        """POST each file to /instances (the REST API, independent of radviewer's code);
        returns the Orthanc ids."""
        ids = []
        with requests.Session() as s:
            for p in paths:
                r = s.post(f"{self.url}/instances", data=Path(p).read_bytes(), timeout=30)
                r.raise_for_status()
                ids.append(r.json()["ID"])
        return ids

    def stop(self) -> None:
        """Terminate; killed after 1 s (Orthanc takes ~3 s to shut down its DICOM server, and
        its storage here is thrown away anyway)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(folder: Path, modalities: dict[str, tuple[str, int]], *, tls: dict | None = None,
          timeout: float = 30.0) -> Orthanc:
    """Start Orthanc with its storage in ``folder``; ``modalities`` maps a name to (AE title,
    port) of the peers on 127.0.0.1 it may send to (C-MOVE destinations); ``tls``: extra
    configuration keys (DicomTlsEnabled ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "radviewer-tests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "DicomAet": ORTHANC_AET,
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpCompressionEnabled": False,
        "StorageCompression": False,
        "DicomCheckCalledAet": True,  # a wrong called AE title is refused (a test relies on it)
        # Queries and C-MOVE from any calling AE, so that a C-MOVE to a destination Orthanc
        # does not know reaches the "move destination unknown" answer (a test relies on it).
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalities": {n: [aet, "127.0.0.1", port] for n, (aet, port) in
                            modalities.items()},
        # Orthanc keeps its outgoing associations open 5 s by default: C-MOVE would wait.
        "DicomAssociationCloseDelay": 0,
        "SaveJobs": False,
        "Plugins": [str(dicomweb_plugin())],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        **(tls or {}),
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=1))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 (owned by the process)
    # DCMTK (inside Orthanc) leaves Nagle's algorithm on unless TCP_NODELAY=1: ~50 ms per
    # small PDU exchange on loopback.
    proc = subprocess.Popen(["Orthanc", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=folder, env={**os.environ, "TCP_NODELAY": "1"})
    server = Orthanc(dicom_port, http_port, proc, folder)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited ({proc.returncode}); see {folder}/orthanc.log")
        try:
            if requests.get(f"{server.url}/system", timeout=1).ok:
                with socket.create_connection(("127.0.0.1", dicom_port), timeout=1):
                    return server
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer within {timeout} s; see {folder}/orthanc.log")
