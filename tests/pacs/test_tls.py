"""DIMSE over TLS against a second, TLS-only Orthanc (DicomTlsEnabled) with a self-signed
certificate made by the ``openssl`` command in the fixture (used as the CA, the archive's
certificate and ours)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from viewer.pacs import dimse
from viewer.pacs.client import PacsClient
from viewer.pacs.errors import PacsError


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory, study_files):
    import orthanc_server

    why = orthanc_server.missing()
    if why:
        pytest.skip(why)
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: the TLS test needs it for a "
                    "self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    server = orthanc_server.start(d / "orthanc", {"radviewer": ("RADVIEWER", 104)}, tls={
        "DicomTlsEnabled": True, "DicomTlsCertificate": str(cert),
        "DicomTlsPrivateKey": str(key), "DicomTlsTrustedCertificates": str(cert),
        "DicomTlsRemoteCertificateRequired": True})
    try:
        server.upload(study_files["ct"][:2])
        yield server, cert, key
    finally:
        server.stop()


@pytest.fixture()
def tls_node(tls_orthanc):
    from viewer.pacs.nodes import DimseNode

    server, cert, key = tls_orthanc
    return DimseNode("tls", "ORTHANC", "127.0.0.1", server.dicom_port, tls=True,
                     ca_file=str(cert), cert_file=str(cert), key_file=str(key))


def test_echo_and_get_over_tls(tls_node, cache, uids):
    assert dimse.echo(tls_node) < 5
    r = PacsClient(tls_node, cache).retrieve(uids["ct"][0], method="get")
    assert (r.state, r.received) == ("complete", 2)


def test_tls_mismatches_say_what_to_check(tls_node, tmp_path):
    plain = dataclasses.replace(tls_node, tls=False)
    with pytest.raises(PacsError, match="require TLS"):
        dimse.echo(plain)
    missing = dataclasses.replace(tls_node, ca_file=str(tmp_path / "none.pem"))
    with pytest.raises(PacsError, match="TLS certificate files cannot be used"):
        dimse.echo(missing)
    # Our certificate without its key: the archive requires a client certificate.
    anonymous = dataclasses.replace(tls_node, cert_file="", key_file="")
    with pytest.raises(PacsError, match="TLS handshake failed"):
        dimse.echo(anonymous)
