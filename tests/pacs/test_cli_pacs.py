"""``radviewer pacs`` against the real Orthanc: JSON documents and exit codes."""

from __future__ import annotations

import json

import pytest

from viewer.cli import main
from viewer.cli_common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


def _run(capsys, *argv):
    code = main(["pacs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def config(tmp_path, node, web_node):
    from viewer.pacs.nodes import save_config

    path = tmp_path / "pacs.json"
    save_config(path, [node, web_node])
    return str(path)


def test_echo_find_get_send_json(capsys, config, uids, tmp_path, study_files):
    code, out, _ = _run(capsys, "echo", "orthanc", "--config", config, "--json")
    assert code == EXIT_OK and json.loads(out)["ok"] is True
    code, out, _ = _run(capsys, "find", "orthanc", "--config", config, "--json",
                        "--level", "series", "--study", uids["ct"][0])
    doc = json.loads(out)
    assert doc["schema"] == "radviewer.pacs/1"
    assert [m["SeriesInstanceUID"] for m in doc["matches"]] == [uids["ct"][1]]
    cache = str(tmp_path / "c")
    for name in ("orthanc", "orthanc-web"):
        code, out, _ = _run(capsys, "get", name, uids["ct"][0], "--config", config,
                            "--cache", cache, "--json")
        doc = json.loads(out)
        assert code == EXIT_OK and doc["state"] == "complete"
    assert doc["method"] == "WADO-RS" and doc["skipped"] == doc["total"]  # the 2nd resumed
    code, out, _ = _run(capsys, "send", "orthanc-web", *map(str, study_files["ct"][:1]),
                        "--config", config, "--json")
    assert code == EXIT_OK and [i["ok"] for i in json.loads(out)["instances"]] == [True]


def test_move_with_an_ad_hoc_node(capsys, node, uids, tmp_path):
    spec = f"{node.ae_title}@127.0.0.1:{node.port}"
    code, out, err = _run(capsys, "move", spec, uids["ct"][0], "--scp-port",
                          str(node.scp_port), "--cache", str(tmp_path / "c"))
    assert code == EXIT_OK, err
    assert out.startswith("C-MOVE: complete")


def test_errors_are_one_line_with_the_exit_code(capsys, config, node, uids):
    code, _, err = _run(capsys, "echo", "nowhere", "--config", config)
    assert code == EXIT_USAGE and "no archive named 'nowhere'" in err
    code, _, err = _run(capsys, "echo", f"WRONG@127.0.0.1:{node.port}")
    assert code == EXIT_FAILURE and err.count("\n") == 1 and "refused the association" in err
    code, _, err = _run(capsys, "find", "orthanc", "--config", config, "-q", "PatientID")
    assert code == EXIT_USAGE and "KEYWORD=VALUE" in err


def test_retrieve_and_send_are_audited_without_uids(capsys, node, uids, tmp_path, study_files):
    from viewer import audit

    _run(capsys, "get", f"ORTHANC@127.0.0.1:{node.port}", uids["ct"][0], "--cache",
         str(tmp_path / "c"))
    _run(capsys, "send", f"ORTHANC@127.0.0.1:{node.port}", str(study_files["seg"][0]))
    entries = audit.read_entries()[-2:]
    assert [(e["action"], e["outcome"]) for e in entries] == [("retrieve", "complete"),
                                                              ("send", "ok")]
    assert entries[0]["study"].startswith("sha256:") and entries[1]["study"]
    text = audit.audit_path().read_text()
    assert uids["ct"][0] not in text and uids["seg"][0] not in text
