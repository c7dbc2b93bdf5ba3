"""Nodes load and save as plain dicts and files; secrets stay out of repr and messages."""

from __future__ import annotations

import json
import os

import pytest

from viewer.pacs.errors import PacsConfigError
from viewer.pacs.nodes import (
    DicomWebNode,
    DimseNode,
    find_node,
    load_config,
    node_from_dict,
    node_to_dict,
    save_config,
)

SECRET = "s3cr3t-Tok3n"


def test_round_trip_through_dicts_and_a_file(tmp_path):
    nodes = [DimseNode("pacs", "ARCHIVE", "pacs.example.org", 11112, tls=True,
                       ca_file="/etc/ca.pem"),
             DicomWebNode("web", "https://pacs.example.org/dicom-web/", token=SECRET)]
    assert [node_from_dict(node_to_dict(n)) for n in nodes] == nodes
    path = tmp_path / "cfg" / "pacs.json"
    save_config(path, nodes)
    assert os.stat(path).st_mode & 0o077 == 0  # it may hold secrets: user-only
    assert load_config(path) == nodes
    assert find_node(load_config(path), "web").url == "https://pacs.example.org/dicom-web"


def test_toml_config(tmp_path):
    p = tmp_path / "pacs.toml"
    p.write_text('[[nodes]]\nname = "a"\nae_title = "ORTHANC"\nhost = "localhost"\n'
                 'port = 4242\n\n[[nodes]]\nkind = "dicomweb"\nname = "b"\n'
                 'url = "http://localhost:8042/dicom-web"\nusername = "u"\n'
                 f'password = "{SECRET}"\n')
    a, b = load_config(p)
    assert (a.port, a.our_ae_title, b.password) == (4242, "RADVIEWER", SECRET)


def test_secrets_never_in_repr_or_descriptions():
    n = DicomWebNode("web", "https://h/dicom-web", token=SECRET, password=SECRET,
                     username="u")
    for text in (repr(n), str(n), n.describe()):
        assert SECRET not in text
    assert SECRET in json.dumps(node_to_dict(n))  # stored, for the settings only
    keyed = DicomWebNode("web", f"https://h/dicom-web?apikey={SECRET}")
    assert SECRET not in keyed.describe()


@pytest.mark.parametrize("bad, words", [
    ({"name": "x", "ae_title": "A" * 17, "host": "h"}, "not a valid AE title"),
    ({"name": "x", "ae_title": "A\\B", "host": "h"}, "not a valid AE title"),
    ({"name": "x", "ae_title": "A", "host": "h", "port": 70000}, "not a port"),
    ({"name": "x", "ae_title": "A", "host": "h", "colour": "red"}, "unknown setting"),
    ({"name": "x", "host": "h"}, "missing ae_title"),
    ({"kind": "dicomweb", "name": "x", "url": "ftp://h"}, "http:// or https://"),
    ({"kind": "dicomweb", "name": "x", "url": f"https://u:{SECRET}@h/"}, "own fields"),
    ({"kind": "hl7", "name": "x"}, "not 'dimse' or 'dicomweb'"),
])
def test_bad_settings_are_refused_with_a_reason(bad, words):
    with pytest.raises(PacsConfigError, match=words) as info:
        node_from_dict(bad)
    assert SECRET not in str(info.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(PacsConfigError, match="no archive configuration"):
        load_config(tmp_path / "none.json")
    (tmp_path / "b.json").write_text("{nodes: [")
    with pytest.raises(PacsConfigError, match="not valid JSON"):
        load_config(tmp_path / "b.json")
    with pytest.raises(PacsConfigError, match="known: none configured"):
        find_node([], "x")
