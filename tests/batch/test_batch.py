"""``radviewer batch`` on real copies of the sample T1 (new UIDs, written with pydicom): every
series analysed by the real tissue model in worker processes, a damaged copy recorded as failed
without stopping the batch, resumable from state.jsonl, and the same on a Dask LocalCluster."""

from __future__ import annotations

import csv
import json
import os

import pytest
from study_copies import (
    CBF_DESCRIPTION,
    corrupt_pixels,
    make_studies,
    sample_series,
    write_copy,
)

from viewer.batch.engine import local_workers
from viewer.batch.state import STATE_NAME, append_record, read_state
from viewer.cli import main
from viewer.cli_common import EXIT_FAILURE

MODEL = "brainchop-tissue"
PATIENT = ("SpiralCSI_ASL_test_sub3", "12.04.14-17:25:46")  # the sample's name and ID (start)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """study01, study02: good T1 copies; study03: a T1 copy with damaged pixel data;
    study04: the derived relCBF map (not applicable to the tissue model)."""
    root = tmp_path_factory.mktemp("studies")
    good = make_studies(root, 3)
    corrupt_pixels(root / "study03")
    write_copy(sample_series(CBF_DESCRIPTION), root / "study04", 4)
    return root, good


def _rows(out):
    with open(out / "summary.csv", newline="") as fh:
        return {r["series_uid"]: r for r in csv.DictReader(fh)}


def _state_lines(out):
    return (out / STATE_NAME).read_text().splitlines()


def test_a_local_batch_runs_everything_records_the_failure_and_resumes(root, tmp_path, capsys):
    root, (uid1, uid2, bad) = root
    out = tmp_path / "out"
    args = ["batch", str(root), "--model", MODEL, "--out", str(out), "--workers", "2"]
    assert main(args) == EXIT_FAILURE  # one series failed; the others are done
    err = capsys.readouterr().err
    assert "3 applicable series, 0 already in" in err and "1 not applicable" in err
    assert "ETA" in err and "[3/3] 100 %" in err
    rows = _rows(out)
    assert len(rows) == 4
    for uid in (uid1, uid2):
        r = rows[uid]
        assert r["status"] in ("done", "flagged") and r["modality"] == "MR"
        assert "White Matter" in r["result"] and "mL" in r["result"]
        report = json.loads((out / r["folder"] / "report.json").read_text())
        assert report["series"]["series_uid"] == uid and report["model"]["id"] == MODEL
        names = set(os.listdir(out / r["folder"]))
        assert {"report.json", "labels.npy"} <= names
        assert any(n.startswith("snapshot_") for n in names)
    # The same pixels under new UIDs give the same volumes.
    assert rows[uid1]["result"] == rows[uid2]["result"]
    assert rows[bad]["status"] == "failed" and "study03" in rows[bad]["reason"]
    assert "\n" not in rows[bad]["reason"] and not rows[bad]["folder"]
    (cbf,) = [r for r in rows.values() if r["status"] == "not applicable"]
    assert "ORIGINAL" in cbf["reason"] or "16 slices" in cbf["reason"]
    state = read_state(out)
    assert len(state) == 3 and all(rec["pid"] != os.getpid() for rec in state.values())
    declared_mb = 1024 * 1.4  # the manifest's resources.memory_gb
    assert all(0 < rec["peak_rss_mb"] <= declared_mb for rec in state.values())
    # Privacy: no patient name or ID in anything the batch wrote, unless asked.
    for name in (STATE_NAME, "summary.csv", "summary.json"):
        text = (out / name).read_text()
        assert not any(p in text for p in PATIENT), name
    reports = {uid: (out / rows[uid]["folder"] / "report.json").stat().st_mtime_ns
               for uid in (uid1, uid2)}

    # Second run: nothing to do.
    n_lines = len(_state_lines(out))
    assert main([*args, "--include-patient-details"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "3 already in" in err and "0 to run" in err and "ETA" not in err
    assert len(_state_lines(out)) == n_lines
    assert PATIENT[0] in (out / "summary.csv").read_text()  # asked for: there

    # A result's state line removed: only that series runs again.
    lines = _state_lines(out)
    kept = [ln for ln in lines if uid2 not in ln]
    (out / STATE_NAME).write_text("\n".join(kept) + "\n")
    assert main(args) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "1 to run" in err
    new = _state_lines(out)[len(kept):]
    assert len(new) == 1 and json.loads(new[0])["series_uid"] == uid2
    assert (out / rows[uid1]["folder"] / "report.json").stat().st_mtime_ns == reports[uid1]
    assert (out / rows[uid2]["folder"] / "report.json").stat().st_mtime_ns > reports[uid2]

    # --retry-failed: the damaged one again (and only it), still failed.
    assert main([*args, "--retry-failed", "--quiet"]) == EXIT_FAILURE
    new = _state_lines(out)[len(kept) + 1:]
    assert [json.loads(ln)["series_uid"] for ln in new] == [bad]


def test_the_same_batch_on_a_dask_local_cluster(root, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    root, (uid1, _uid2, bad) = root
    sub = tmp_path / "studies"  # one good and the damaged copy (hard links: no copying)
    for name in ("study01", "study03"):
        (sub / name).mkdir(parents=True)
        for f in (root / name).iterdir():
            os.link(f, sub / name / f.name)
    out = tmp_path / "out"
    import dask

    # Worker processes that may start processes of their own (radviewer's decoder pool), as
    # the README tells cluster users: DASK_DISTRIBUTED__WORKER__DAEMON=False.
    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None) as cluster:
        worker_pids = {w.pid for w in cluster.workers.values()}
        code = main(["batch", str(sub), "--model", MODEL, "--out", str(out),
                     "--scheduler", cluster.scheduler_address])
    assert code == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "running on Dask cluster at tcp://127.0.0.1:" in err and "2 worker threads" in err
    rows = _rows(out)
    assert rows[uid1]["status"] in ("done", "flagged") and "White Matter" in rows[uid1]["result"]
    assert rows[bad]["status"] == "failed" and "study03" in rows[bad]["reason"]
    assert (out / rows[uid1]["folder"] / "labels.npy").is_file()
    assert {rec["pid"] for rec in read_state(out).values()} <= worker_pids


def test_a_torn_state_line_is_ignored_and_the_next_record_starts_clean(tmp_path):
    append_record(tmp_path, {"key": "a", "status": "done"})
    with open(tmp_path / STATE_NAME, "a") as fh:
        fh.write('{"key": "b", "sta')  # a crash mid-write
    assert set(read_state(tmp_path)) == {"a"}
    append_record(tmp_path, {"key": "b", "status": "failed"})
    assert read_state(tmp_path)["b"]["status"] == "failed"


def test_local_workers_are_sized_by_cores_and_the_declared_memory():
    assert local_workers(1.4, 20, cores=16, free_gb=4.0) == 2  # memory bound
    assert local_workers(1.4, 20, cores=2, free_gb=64.0) == 2  # core bound
    assert local_workers(1.4, 1, cores=16, free_gb=64.0) == 1  # one task
    assert local_workers(8.0, 20, cores=16, free_gb=4.0) == 1  # at least one
