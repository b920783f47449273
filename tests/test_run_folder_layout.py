"""The inside of a training run folder is spelled once, in common.layout; these are the names
existing results folders hold, so a change here orphans every finished run (resume, the curve
rule and the report would no longer find its files). Spelled out literally on purpose."""

from __future__ import annotations

from common.layout import GRIDS, PATTERNS, SNAPSHOTS, Layout, TrainDir

WC = {"dataset": "faces", "model": "cips"}


def test_run_folder_names_are_the_ones_on_disk(tmp_path):
    run = TrainDir(tmp_path)
    assert run.snapshot(8) == tmp_path / "checkpoints" / "ckpt-00000008.pt"
    assert run.final == tmp_path / "checkpoints" / "final.pt"
    assert (run.log, run.meta) == (tmp_path / "log.csv", tmp_path / "run.json")
    assert run.grid(8) == tmp_path / "samples" / "grid-00000008.png"
    assert (SNAPSHOTS.glob, GRIDS.glob) == ("ckpt-*.pt", "grid-*.png")
    lay = Layout(tmp_path)  # the workflow's patterns and the training folder agree
    inside = TrainDir(lay.path("train_dir", **WC))
    assert lay.path("final_ckpt", **WC) == inside.final
    assert lay.path("train_log", **WC) == inside.log and lay.path("samples", **WC) == inside.samples
    assert PATTERNS["train_meta"] == "train/{dataset}/{model}/run.json"


def test_readers_pick_snapshots_in_step_order_and_nothing_else(tmp_path):
    run = TrainDir(tmp_path)
    run.checkpoints.mkdir()
    for name in ("ckpt-00000010.pt", "ckpt-00000002.pt", "final.pt", ".ckpt-00000012.pt.x.tmp"):
        (run.checkpoints / name).touch()
    (run.checkpoints / "ckpt-notastep.pt").touch()
    assert [p.name for p in run.snapshots()] == ["ckpt-00000002.pt", "ckpt-00000010.pt"]
    assert [SNAPSHOTS.step(n) for n in ("ckpt-00000010.pt", "final.pt", "ckpt-1.pt\n")] == [
        10,
        None,
        None,
    ]
    assert run.grids() == []  # no samples folder yet


def test_find_reads_the_wildcards_back(tmp_path):
    lay = Layout(tmp_path)
    for dataset, model in (("faces", "cips"), ("cats", "stylegan2")):
        meta = lay.path("train_meta", dataset=dataset, model=model)
        meta.parent.mkdir(parents=True)
        meta.write_text("{}")
    (tmp_path / "train" / "faces" / "stray.json").write_text("{}")  # not a run's meta
    found = [(wc["dataset"], wc["model"]) for wc, _ in lay.find("train_meta")]
    assert found == [("cats", "stylegan2"), ("faces", "cips")]
