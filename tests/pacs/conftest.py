"""One real Orthanc for the whole tests/pacs session (about 0.3 s to start), loaded with the
PET-SEG study's SEG and a handful of its PET slices plus a few CT slices, and stopped after.
radviewer's Storage SCP is registered in it as the C-MOVE destination ``RADVIEWER``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import orthanc_server  # noqa: E402

N_PET = 6
N_CT = 4


@pytest.fixture(scope="session")
def study_files(shared_data):
    """{'seg': [SEG file], 'pet': 6 PET slices it references, 'ct': 4 CT slices}."""
    pet = sorted((shared_data / "pet-seg-headneck" / "PET").iterdir())[:N_PET]
    seg = sorted(p for p in (shared_data / "pet-seg-headneck" / "SEG").rglob("*")
                 if p.is_file())
    ct = sorted((shared_data / "ct-chest-lidc0314").glob("*.dcm"))[:N_CT]
    return {"seg": seg, "pet": pet, "ct": ct}


@pytest.fixture(scope="session")
def scp_port():
    return orthanc_server.free_port()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, study_files, scp_port):
    why = orthanc_server.missing()
    if why:
        pytest.skip(why)
    server = orthanc_server.start(tmp_path_factory.mktemp("orthanc"),
                                  {"radviewer": (orthanc_server.CLIENT_AET, scp_port)})
    try:
        server.upload(study_files["pet"] + study_files["ct"])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node(orthanc, scp_port):
    from viewer.pacs.nodes import DimseNode

    return DimseNode("orthanc", orthanc_server.ORTHANC_AET, "127.0.0.1", orthanc.dicom_port,
                     our_ae_title=orthanc_server.CLIENT_AET, scp_port=scp_port)


@pytest.fixture(scope="session")
def web_node(orthanc):
    from viewer.pacs.nodes import DicomWebNode

    return DicomWebNode("orthanc-web", orthanc.dicomweb_url)


@pytest.fixture(scope="session")
def uids(study_files):
    """Study/series UIDs of the uploaded PET and CT."""
    import pydicom

    out = {}
    for key in ("pet", "ct", "seg"):
        ds = pydicom.dcmread(study_files[key][0], stop_before_pixels=True)
        out[key] = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
    return out


@pytest.fixture()
def cache(tmp_path):
    from viewer.pacs.cache import StudyCache

    c = StudyCache(tmp_path / "cache")
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _own_data_dirs(tmp_path, monkeypatch):
    """The audit trail and the default cache go to throw-away folders, not the user's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
