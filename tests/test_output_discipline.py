"""Regression tests of issue 22, items 1-4 and 15: a folder is replaced or removed only
when its marker proves that symbreak wrote it, in every writing command (``analyze``,
``train``'s checkpoints and ``reproduce`` included), and the temporary folders a killed
run leaves are removed by the next run, but only symbreak's own.

The commands of the issue run through ``symbreak.cli.main`` in this process (exit status
and stderr are what a user sees); kills happen in child processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import one_line_error, run
from symbreak.errors import OutputExistsError, OutputLockedError, SettingsError
from symbreak.storage.atomic import atomic_output
from symbreak.storage.lock import output_lock
from symbreak.storage.safe_output import (MARKER, MARKER_FILE, PROOF, is_leftover, is_owned,
                                     make_marked_folder, mark)

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def npy(tmp_path, monkeypatch):
    """``d.npy`` of the issue (8 x 8 scan of 32 x 32 px), the test's folder as the
    current one."""
    monkeypatch.chdir(tmp_path)
    data = np.random.default_rng(0).random((8, 8, 32, 32)).astype("f4")
    np.save(tmp_path / "d.npy", data)
    return tmp_path / "d.npy"



def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def user_folder(path: Path, files: dict[str, str]) -> dict[str, bytes]:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return tree(path)


# ------------------------------------------------------------- the proof itself
def test_mark_writes_one_random_id_in_the_marker_and_in_the_folder(tmp_path):
    for name in ("a", "b"):
        make_marked_folder(tmp_path / name, "test")
        assert is_owned(tmp_path / name)
    ids = [json.loads((tmp_path / n / MARKER / MARKER_FILE).read_text())["attributes"]
           ["output_id"] for n in ("a", "b")]
    assert ids[0] != ids[1] and len(ids[0]) == 32
    assert json.loads((tmp_path / "a" / PROOF).read_text())["output_id"] == ids[0]
    mark(tmp_path / "a", "again")  # marking an output of ours keeps its id
    assert json.loads((tmp_path / "a" / PROOF).read_text())["output_id"] == ids[0]


def test_a_zarr_store_records_the_id_in_its_root_attributes(npy, capsys):
    import xarray as xr

    assert run(capsys, "com", npy, "--out", "c.zarr")[0] == 0
    store = npy.parent / "c.zarr"
    assert is_owned(store) and not (store / PROOF).exists()
    marker = json.loads((store / MARKER / MARKER_FILE).read_text())["attributes"]
    root = json.loads((store / "zarr.json").read_text())["attributes"]
    assert root["symbreak_output_id"] == marker["output_id"]
    root["symbreak_output_id"] = "0" * 32  # the store's record no longer agrees
    record = json.loads((store / "zarr.json").read_text())
    record["attributes"] = root
    (store / "zarr.json").write_text(json.dumps(record))
    assert not is_owned(store)
    assert "com_y" in xr.open_zarr(store)  # still read as before


def _forge(folder: Path, how: str, tmp_path: Path) -> None:
    """A marker that a user (or chance) made, not symbreak."""
    (folder / MARKER).mkdir(parents=True, exist_ok=True)
    record = {"zarr_format": 3, "node_type": "group",
              "attributes": {"written_by": "symbreak", "what": "save", "version": "0.1",
                             "output_id": "ab" * 16}}
    if how == "empty file":
        (folder / MARKER / MARKER_FILE).write_text("")
    elif how == "{}":
        (folder / MARKER / MARKER_FILE).write_text("{}")
    elif how == "record without proof":
        (folder / MARKER / MARKER_FILE).write_text(json.dumps(record))
    elif how == "proof of another id":
        (folder / MARKER / MARKER_FILE).write_text(json.dumps(record))
        (folder / PROOF).write_text(json.dumps({"written_by": "symbreak",
                                                "output_id": "cd" * 16}))
    elif how == "id of the wrong type":
        record["attributes"]["output_id"] = 12
        (folder / MARKER / MARKER_FILE).write_text(json.dumps(record))
        (folder / PROOF).write_text(json.dumps({"written_by": "symbreak", "output_id": 12}))
    elif how == "proof of another type":
        (folder / MARKER / MARKER_FILE).write_text(json.dumps(record))
        (folder / PROOF).write_text(json.dumps({"written_by": "symbreak",
                                                "output_id": {"x": 1}}))
    elif how == "marker linked from an output":
        shutil.rmtree(folder / MARKER)
        make_marked_folder(tmp_path / "real", "save")
        (folder / MARKER).symlink_to(tmp_path / "real" / MARKER)
        shutil.copy(tmp_path / "real" / PROOF, folder / PROOF)
    elif how == "marker copied from an output":
        shutil.rmtree(folder / MARKER)
        make_marked_folder(tmp_path / "real", "save")
        shutil.copytree(tmp_path / "real" / MARKER, folder / MARKER)


FORGERIES = ["empty file", "{}", "record without proof", "proof of another id",
             "id of the wrong type", "proof of another type", "marker linked from an output",
             "marker copied from an output"]


# ------------------------------------------------------- 4. forged marker, convert
@pytest.mark.parametrize("how", FORGERIES)
def test_4_forged_marker_does_not_let_convert_overwrite_delete_a_folder(npy, capsys,
                                                                       tmp_path, how):
    folder = npy.parent / "f"
    before = user_folder(folder, {"thesis.txt": "x"})
    _forge(folder, how, tmp_path)
    before = tree(folder)
    status, err = run(capsys, "convert", npy, "f", "--overwrite")
    assert status == 2 and "did not write" in one_line_error(err)
    assert "move it away" in err
    assert tree(folder) == before


def test_4_the_exact_command_of_the_issue(npy, capsys):
    folder = npy.parent / "f"
    (folder / MARKER).mkdir(parents=True)
    (folder / MARKER / "zarr.json").write_text("{}")
    (folder / "data.csv").write_text("1,2,3\n")
    status, err = run(capsys, "convert", npy, "f", "--overwrite")
    assert status == 2 and "did not write" in one_line_error(err)
    assert (folder / "data.csv").read_text() == "1,2,3\n"


# --------------------------------------------------- 1. analyze into a user's folder
USER_FILES = {"figures": {"figures/my_plot.png": "precious"},
              "model": {"model/my_weights.bin": "precious"},
              "settings and report": {"settings.toml": "[mine]\n", "report.html": "<p>mine"}}


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["", "overwrite"])
@pytest.mark.parametrize("files", USER_FILES.values(), ids=USER_FILES.keys())
def test_1_analyze_never_writes_into_a_users_folder(npy, capsys, files, overwrite):
    """mkdir -p u/figures; echo precious > u/figures/my_plot.png;
    symbreak analyze d.npy --out u --epochs 1 --no-report"""
    before = user_folder(npy.parent / "u", files)
    status, err = run(capsys, "analyze", "d.npy", "--out", "u", "--epochs", "1",
                      "--no-report", *overwrite)
    assert status == 2 and "was not written by symbreak" in one_line_error(err)
    assert "move it away" in err
    assert tree(npy.parent / "u") == before
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy", "u"]


@pytest.mark.parametrize("how", FORGERIES)
def test_1_analyze_overwrite_refuses_a_folder_with_a_forged_marker(npy, capsys, tmp_path,
                                                                   how):
    folder = npy.parent / "u"
    user_folder(folder, {"results.zarr/zarr.json": "{}", "model/notes.txt": "mine"})
    _forge(folder, how, tmp_path)
    before = tree(folder)
    status, err = run(capsys, "analyze", "d.npy", "--out", "u", "--epochs", "1",
                      "--no-report", "--overwrite")
    assert status == 2 and "was not written by symbreak" in one_line_error(err)
    assert tree(folder) == before


def test_1_analyze_writes_into_an_empty_folder_and_cleans_what_killed_runs_left(npy,
                                                                                capsys):
    """An empty folder becomes symbreak's; the staging folder and creation folders of
    killed runs are removed (they prove to be symbreak's), a user's look-alike is
    refused, and ``report`` removes its own temporary folders left inside."""
    (npy.parent / "u").mkdir()
    (npy.parent / "u" / (PROOF + ".symbreak-new")).write_text("")  # killed marking it
    stale = [npy.parent / ".symbreak-tmp-staging-u", npy.parent / ".symbreak-tmp-0123abcd-u"]
    for folder in stale:
        make_marked_folder(folder, "analyze")
        (folder / "settings.toml").write_text("old")
    assert run(capsys, "analyze", "d.npy", "--out", "u", "--epochs", "1", "--no-report",
               "--pca-components", "2")[0] == 0
    assert is_owned(npy.parent / "u") and (npy.parent / "u" / "results.zarr").is_dir()
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy", "u"]

    left = npy.parent / "u" / ".symbreak-tmp-89abcdef-figures"  # a killed report's
    make_marked_folder(left, "temporary report")
    (left / "figures").mkdir()
    assert run(capsys, "report", "u")[0] == 0
    assert not left.exists() and is_owned(npy.parent / "u" / "figures")

    mine = npy.parent / ".symbreak-tmp-staging-u"
    before = user_folder(mine, {"notes.txt": "mine"})
    status, err = run(capsys, "analyze", "d.npy", "--out", "u", "--epochs", "1",
                      "--no-report", "--overwrite")
    assert status == 2 and "symbreak did not write it" in one_line_error(err)
    assert tree(mine) == before and (npy.parent / "u" / "results.zarr").is_dir()

    (npy.parent / "u" / "mine.txt").write_text("x")  # a user's file in our folder
    shutil.rmtree(mine)
    status, err = run(capsys, "analyze", "d.npy", "--out", "u", "--overwrite")
    assert status == 2 and "mine.txt" in one_line_error(err)


def test_1_a_refused_analysis_leaves_no_folder_behind(npy, capsys, monkeypatch):
    from symbreak.analysis import api

    def refuse(*args, **kwargs):  # an input refused once the folder is made and locked
        assert is_owned(npy.parent / "r")
        raise SettingsError("refused by the test")

    monkeypatch.setattr(api, "_run", refuse)
    status, err = run(capsys, "analyze", "d.npy", "--out", "r", "--epochs", "1")
    assert status == 2 and "refused by the test" in one_line_error(err)
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy"]


# ------------------------------------------------------------ 2. train checkpoints
@pytest.mark.parametrize("how", [None, "{}", "record without proof"])
def test_2_train_never_deletes_a_checkpoints_folder_it_did_not_make(npy, capsys, tmp_path,
                                                                    how):
    """mkdir t.checkpoints; echo x > t.checkpoints/thesis.tex;
    symbreak train d.npy --out t --epochs 2"""
    folder = npy.parent / "t.checkpoints"
    user_folder(folder, {"thesis.tex": "x\n"})
    if how:
        _forge(folder, how, tmp_path)
    before = tree(folder)
    status, err = run(capsys, "train", "d.npy", "--out", "t", "--epochs", "2")
    assert status == 2 and "symbreak did not make it" in one_line_error(err)
    assert tree(folder) == before
    assert not (npy.parent / "t").exists()


def test_2_train_removes_only_its_own_checkpoints(npy, capsys):
    assert run(capsys, "train", "d.npy", "--out", "t", "--epochs", "1", "--hidden", "16")[0] == 0
    assert is_owned(npy.parent / "t") and (npy.parent / "t" / "config.json").is_file()
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy", "t"]


def test_2_a_failed_train_leaves_no_empty_checkpoints_folder(npy, capsys, monkeypatch):
    from symbreak.vae import RotationalVAE

    def fail(self, *args, **kwargs):
        raise SettingsError("stopped by the test")

    monkeypatch.setattr(RotationalVAE, "fit", fail)
    status, err = run(capsys, "train", "d.npy", "--out", "t", "--epochs", "1")
    assert status == 2 and "stopped by the test" in err
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy"]


# ---------------------------------------------------------------------- 3. reproduce
@pytest.fixture
def quick_reproduce(monkeypatch):
    """reproduce with its simulation, analysis, report and scores replaced by stand-ins
    that write one file per set (the folder discipline is what is tested here)."""
    from symbreak.reproduce import run as rp

    monkeypatch.setattr(rp, "simulate", lambda name, seed=0, **kw: (name, seed))
    monkeypatch.setattr(rp, "analyze", _fake_analyze)
    monkeypatch.setattr(rp, "report", lambda where: (where / "report.html").write_text("r"))
    monkeypatch.setattr(rp, "evaluate", _fake_rows)
    monkeypatch.setattr(rp, "fit_rows", lambda *args: [])
    return rp


def _fake_analyze(data, out, progress=None, seed=0, **options):
    out.mkdir()
    (out / "results.txt").write_text(f"{data} epochs={options.get('epochs')}")
    return data


def _fake_rows(results, name):
    return [{"set": name, "metric": "angle_vs_com", "map": "rrVAE angle vs COM angle",
             "value": 0.5, "n_positive": "", "n_negative": ""}]


@pytest.mark.parametrize("bad", [{"seeds": [0, 2**32]}, {"seed": -1}, {"seeds": []},
                                 {"epochs": 0}, {"dose": -1.0}, {"sets": ["graphene-x"]}])
def test_3_reproduce_checks_every_input_before_making_its_folder(tmp_path, quick_reproduce,
                                                                 bad):
    options = dict(bad)
    sets = options.pop("sets", ["graphene-vacancy"])
    with pytest.raises(SettingsError):
        quick_reproduce.reproduce(sets, tmp_path / "o", **options)
    assert list(tmp_path.iterdir()) == []


def test_3_reproduce_cli_with_a_seed_beyond_32_bits_leaves_nothing(npy, capsys):
    status, err = run(capsys, "reproduce", "graphene-vacancy", "--out", "o", "--seeds",
                      "0,4294967296", "--epochs", "1")
    assert status == 2 and "4294967295" in one_line_error(err)
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_3_reproduce_never_replaces_a_users_tables(tmp_path, quick_reproduce, overwrite):
    before = user_folder(tmp_path / "o", {"reproduce.md": "my table", "reproduce.json": "[]",
                                          "reproduce.csv": "a,b"})
    error = SettingsError if overwrite else OutputExistsError
    with pytest.raises(error, match="move it away" if overwrite else "already exists"):
        quick_reproduce.reproduce(["graphene-vacancy"], tmp_path / "o", overwrite=overwrite)
    assert tree(tmp_path / "o") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_3_reproduce_refuses_a_symlinked_out(tmp_path, quick_reproduce, overwrite):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "o").symlink_to(tmp_path / "theirs")
    with pytest.raises(SettingsError, match="symbolic link"):
        quick_reproduce.reproduce(["graphene-vacancy"], tmp_path / "o", overwrite=overwrite)
    assert list((tmp_path / "theirs").iterdir()) == []


def test_3_reproduce_holds_a_lock(tmp_path, quick_reproduce):
    with output_lock(tmp_path / "o", "reproduce", beside=True):
        with pytest.raises(OutputLockedError, match=f"pid {os.getpid()}"):
            quick_reproduce.reproduce(["graphene-vacancy"], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_3_reproduce_honours_overwrite_and_replaces_its_own_folder(tmp_path,
                                                                   quick_reproduce):
    rp = quick_reproduce
    rp.reproduce(["graphene-vacancy", "zns-110"], tmp_path / "o", epochs=1)
    assert is_owned(tmp_path / "o")
    first = tree(tmp_path / "o")
    assert first["zns-110/results.txt"] == b"('zns-110', 0) epochs=1"
    assert "reproduce.md" in first and "reproduce-summary.json" in first
    with pytest.raises(OutputExistsError):
        rp.reproduce(["graphene-vacancy"], tmp_path / "o", epochs=2)
    assert tree(tmp_path / "o") == first
    rp.reproduce(["graphene-vacancy"], tmp_path / "o", epochs=2, overwrite=True)
    second = tree(tmp_path / "o")
    assert "zns-110/results.txt" not in second  # the old folder went as a whole
    assert second["graphene-vacancy/results.txt"] == b"('graphene-vacancy', 0) epochs=2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    (tmp_path / "empty").mkdir()  # an empty folder is as good as a new one
    rp.reproduce(["zns-110"], tmp_path / "empty", seeds=(0, 1))
    assert (tmp_path / "empty" / "zns-110" / "seed-1" / "results.txt").is_file()


KILLED_REPRODUCE = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import test_output_discipline as t
from symbreak.reproduce import run as rp
calls = []
def analyze(data, out, **kw):
    calls.append(out)
    if len(calls) == 2:  # the first set's results and tables are written: kill -9
        os.kill(os.getpid(), signal.SIGKILL)
    return t._fake_analyze(data, out, **kw)
rp.simulate = lambda name, seed=0, **kw: (name, seed)
rp.analyze, rp.evaluate, rp.fit_rows = analyze, t._fake_rows, lambda *a: []
rp.report = lambda where: (where / "report.html").write_text("r")
rp.reproduce(["graphene-si", "graphene-cell"], {out!r}, overwrite=True, epochs=3)
"""


@pytest.mark.slow  # a real kill -9 of a child process
def test_3_reproduce_killed_during_overwrite_leaves_the_old_folder_whole(tmp_path,
                                                                         quick_reproduce):
    out = tmp_path / "o"
    quick_reproduce.reproduce(["graphene-vacancy", "zns-110"], out, epochs=1)
    old = tree(out)
    script = KILLED_REPRODUCE.format(tests=str(Path(__file__).parent), out=str(out))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert tree(out) == old  # no new per-set results beside the old tables
    assert (tmp_path / ".symbreak-tmp-staging-o" / "graphene-si" / "results.txt").is_file()
    quick_reproduce.reproduce(["graphene-si"], out, overwrite=True, epochs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # the leftover went
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "graphene-si", "reproduce-summary.csv", "reproduce-summary.json", "reproduce.csv",
        "reproduce.json", "reproduce.md"]


# --------------------------------------------------- 15. left by killed runs
KILLED_COM = """
import os, signal, sys
import xarray as xr
real = xr.Dataset.to_zarr
def to_zarr(self, *args, **kwargs):
    real(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # the store is written, not yet in place
xr.Dataset.to_zarr = to_zarr
from symbreak.cli import main
main(["com", sys.argv[1], "--out", sys.argv[2]] + sys.argv[3:])
"""


def _killed_com(npy: Path, *extra: str) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_COM, str(npy), "c.zarr", *extra],
                          capture_output=True, text=True, timeout=300, cwd=npy.parent,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


@pytest.mark.slow  # a real kill -9 of a child process
def test_15_temporary_folders_of_killed_runs_are_removed_by_the_next(npy, capsys):
    _killed_com(npy)
    left = [p for p in npy.parent.iterdir() if p.name.startswith(".symbreak-tmp-")]
    assert len(left) == 1 and is_leftover(left[0])
    assert (left[0] / "c.zarr" / "com_y").is_dir()
    assert run(capsys, "com", npy, "--out", "c.zarr")[0] == 0
    assert sorted(p.name for p in npy.parent.iterdir()) == ["c.zarr", "d.npy"]
    old = tree(npy.parent / "c.zarr")
    _killed_com(npy, "--overwrite")  # killed after writing the new store: old one kept
    assert tree(npy.parent / "c.zarr") == old
    assert len([p for p in npy.parent.iterdir() if p.name.startswith(".symbreak-tmp-")]) == 1
    assert run(capsys, "com", npy, "--out", "c.zarr", "--overwrite")[0] == 0
    assert sorted(p.name for p in npy.parent.iterdir()) == ["c.zarr", "d.npy"]


@pytest.mark.parametrize("how", [None, "{}", "record without proof"])
def test_15_a_users_folder_with_a_temporary_name_is_kept(npy, capsys, tmp_path, how):
    mine = npy.parent / ".symbreak-tmp-0123abcd-c.zarr"
    user_folder(mine, {"c.zarr/notes.txt": "mine"})
    if how:
        _forge(mine, how, tmp_path)
    before = tree(mine)
    assert run(capsys, "com", npy, "--out", "c.zarr")[0] == 0
    assert tree(mine) == before


def test_15_leftovers_of_a_run_that_holds_the_lock_are_kept(npy, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom symbreak.storage.lock import output_lock\n"
         "with output_lock(sys.argv[1], 'com', beside=True):\n"
         "    print('held', flush=True); time.sleep(120)", str(npy.parent / "c.zarr")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = npy.parent / ".symbreak-tmp-0123abcd-c.zarr"
        make_marked_folder(busy, "temporary save")  # the live run's temporary folder
        status, err = run(capsys, "com", npy, "--out", "c.zarr")
        assert status == 2 and f"pid {holder.pid}" in one_line_error(err)
        with pytest.raises(OutputLockedError), atomic_output(npy.parent / "c.zarr"):
            pass  # the writer itself, called from Python
        assert is_owned(busy)
    finally:
        holder.kill()
        holder.wait()


def test_15_half_made_leftovers_are_recognised_and_foreign_ones_are_not(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proof_only = tmp_path / "proof-only"
    make_marked_folder(proof_only, "x")
    shutil.rmtree(proof_only / MARKER)  # killed before the marker was written
    half_marker = tmp_path / "half-marker"
    make_marked_folder(half_marker, "x")
    (half_marker / MARKER / MARKER_FILE).write_text("")  # killed while writing it
    half_proof = tmp_path / "half-proof"
    half_proof.mkdir()
    (half_proof / (PROOF + ".symbreak-new")).write_text("")  # killed writing the proof
    assert all(is_leftover(p) for p in (empty, proof_only, half_marker, half_proof))
    (half_proof / (PROOF + ".symbreak-new")).write_text("my notes")
    (half_marker / "data.bin").write_bytes(b"x")
    (proof_only / PROOF).write_text("{}")
    link = tmp_path / "link"
    link.symlink_to(empty)
    assert not any(is_leftover(p) for p in (half_marker, proof_only, link, half_proof))


@pytest.mark.parametrize("how", [None, "{}", "record without proof"])
def test_15_a_users_folder_with_the_unfinished_output_name_is_kept(npy, capsys, tmp_path,
                                                                    how):
    """convert's resumable temporary folder has a fixed name: one that symbreak did not
    make is refused in one line, never removed (nor resumed into)."""
    mine = npy.parent / ".symbreak-tmp-partial-o.zarr"
    user_folder(mine, {"o.zarr/notes.txt": "mine", ".symbreak-progress.json": "{}"})
    if how:
        _forge(mine, how, tmp_path)
    before = tree(mine)
    for resume in ([], ["--resume"]):
        status, err = run(capsys, "convert", npy, "o.zarr", *resume)
        assert status == 2 and "symbreak did not write it" in one_line_error(err)
        assert tree(mine) == before and not (npy.parent / "o.zarr").exists()


def test_15_an_unfinished_output_of_a_killed_convert_is_replaced(npy, capsys):
    from symbreak.storage.atomic import partial_path, partial_store

    out = npy.parent / "o.zarr"
    make_marked_folder(partial_path(out), "unfinished output")
    user_folder(partial_store(out), {"half.txt": "half a store"})
    status, err = run(capsys, "convert", npy, "o.zarr")
    assert status == 0 and "replacing the unfinished output" in err
    assert sorted(p.name for p in npy.parent.iterdir()) == ["d.npy", "o.zarr"]
