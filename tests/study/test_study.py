"""Studies end to end with tiny configs on real data: the local executor, resuming after
SIGKILL, failing cells, spec errors, the SLURM path, and the summary's statistics.

The SLURM path runs against stand-ins for sbatch / srun / sacct (tests/study/fake_slurm)
that execute the array's tasks here with the environment SLURM gives them: a real
single-node slurmctld + slurmd needs root daemons, munge keys and cgroup set-up that a
CI container cannot be relied on to allow, while the stand-ins exercise everything on
our side of sbatch: submitit's batch script, the array, the pickled cell calls, sacct
polling and the results."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ncvqvae.cli import app
from ncvqvae.evaluation.evaluator import load_fcn, weights_digest

runner = CliRunner()
FAKE_SLURM = Path(__file__).parent / "fake_slurm"
TINY_BASE = {
    "preset": "cpu",
    "budget": "fixed",
    "tokenizer": {"hidden_dim": 16, "n_resblocks": 1, "codebook_size": 16},
    "ssl": {"projector": "64-64"},
    "stage1": {"max_steps": 8, "batch_size": 16},
}


def write_spec(path: Path, ucr_dir: Path, **changes: object) -> Path:
    spec = {
        "base": TINY_BASE,
        "stages": "tokenizer",
        "data_dir": str(ucr_dir),
        "datasets": ["ECG200", "TwoLeadECG"],
        "seeds": [0, 1],
        "settings": {"none": {"ssl": {"method": "none"}}, "bt": {"ssl": {"method": "barlowtwins", "augment": "slice"}}},
        "baseline": "none",
        **changes,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def finished_cells(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.glob("*/*/seed*/tokenizer.pt") if (p.parent / "metrics.json").is_file())


def test_local_study_finishes_every_cell_and_summarises_them(tmp_path: Path, ucr_dir: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", ucr_dir)
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--workers", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(finished_cells(out)) == 8
    # Each cell is an ordinary run folder.
    assert (out / "ECG200" / "bt" / "seed1" / "config.yaml").is_file()
    with (out / "summary.csv").open() as f:
        summary = {(r["dataset"], r["setting"], r["metric"]): r for r in csv.DictReader(f)}
    for dataset in ("ECG200", "TwoLeadECG"):
        for setting in ("none", "bt"):
            values = [
                json.loads((out / dataset / setting / f"seed{s}" / "metrics.json").read_text())["tokenizer"]["probe"]["svm"]
                for s in (0, 1)
            ]
            row = summary[(dataset, setting, "tokenizer.probe.svm")]
            assert float(row["mean"]) == pytest.approx(np.mean(values))
            assert float(row["std"]) == pytest.approx(np.std(values, ddof=1))
            assert row["n"] == "2"
    text = (out / "summary.md").read_text()
    assert "wins / ties / losses" in text and "Wilcoxon p" in text
    assert "Average rank over the 2 of 2 datasets where every setting has a result" in text
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # one plot per headline metric
    assert "needs at least 3 settings" in html  # aeon's diagram starts from a Friedman test
    with (out / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert sum(r["status"] == "finished" for r in runs) == 8
    # Every cell records the code that ran it; one version, so no note about versions.
    [code] = {r["code"] for r in runs}
    assert code != "unrecorded" and "Code:" not in text
    # A cell from other code (same config) is pointed out, since it can move the numbers.
    cell = out / "ECG200" / "bt" / "seed0" / "metrics.json"
    metrics = json.loads(cell.read_text())
    metrics["code"] = {"package": "0.0.9", "commit": "0123456789ab", "modified": False}
    cell.write_text(json.dumps(metrics))
    assert runner.invoke(app, ["study", "report", str(out)]).exit_code == 0
    assert f"come from 2 code versions: {code} (7 cells), 0123456789ab (1 cells)" in (out / "summary.md").read_text()
    # A second run finds nothing to do.
    again = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--no-progress"])
    assert again.exit_code == 0 and "0 to run" in again.output
    # A tokenizer-only cell never reads the prior or evaluation settings: changing them leaves
    # it finished; changing the tokenizer does not.
    unused = {**TINY_BASE, "evaluation": {"cas_steps": 7}, "prior": {"n_layers": 1}}
    write_spec(spec, ucr_dir, base=unused)
    plan = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--dry-run"])
    assert plan.exit_code == 0 and "0 to run" in plan.output, plan.output
    write_spec(spec, ucr_dir, base={**TINY_BASE, "tokenizer": {**TINY_BASE["tokenizer"], "codebook_size": 8}})
    plan = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--dry-run"])
    assert plan.exit_code == 0 and "8 to run" in plan.output, plan.output


def _study_processes(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find orphans")
def test_sigkilled_study_resumes_without_retraining_and_leaves_no_orphan(tmp_path: Path, ucr_dir: Path) -> None:
    spec = write_spec(
        tmp_path / "spec.yaml", ucr_dir, datasets=["ECG200"],
        settings={"none": {"ssl": {"method": "none"}}, "long": {"ssl": {"method": "none"}, "stage1": {"max_steps": 100000, "epochs": 100000}}},
    )
    out = tmp_path / "killed-study"
    command = [sys.executable, "-m", "ncvqvae.cli", "study", "run", str(spec), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240
    while time.time() < deadline and len(finished_cells(out)) < 2:
        time.sleep(0.5)
    assert len(finished_cells(out)) == 2, "the two short cells should finish first"
    time.sleep(3)  # the long cell is training now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1.0)
    assert _study_processes(str(out)) == [], "a worker outlived the study"
    stamps = {p: (p / "tokenizer.pt").stat().st_mtime_ns for p in finished_cells(out)}
    # Rerun without the endless cell: the finished cells are not trained again.
    write_spec(tmp_path / "spec.yaml", ucr_dir, datasets=["ECG200"], settings={"none": {"ssl": {"method": "none"}}})
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "0 to run" in result.output
    assert {p: (p / "tokenizer.pt").stat().st_mtime_ns for p in finished_cells(out)} == stamps


def test_a_bad_dataset_fails_alone_and_is_reported(tmp_path: Path, ucr_dir: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", ucr_dir, datasets=["ECG200", "NoSuchSet"], seeds=[0], settings={"none": {"ssl": {"method": "none"}}})
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1
    assert "failed: NoSuchSet/none/seed0: DataError: unknown dataset 'NoSuchSet'" in result.output
    assert "NoSuchSet__none__seed0.log" in result.output
    assert len(finished_cells(out)) == 1
    assert "## Failed cells" in (out / "summary.md").read_text()


ONE_SETTING = {"none": {"ssl": {"method": "none"}}}


def test_a_reconstruction_study_scores_each_tokenizer_without_a_prior(tmp_path: Path, ucr_dir: Path) -> None:
    evaluation = {"fcn_epochs": 5, "fcn_patience": 5, "halvings": 2, "rocket_kernels": 50}
    spec = write_spec(
        tmp_path / "spec.yaml", ucr_dir, stages="reconstruction", datasets=["ECG200"], seeds=[0],
        base={**TINY_BASE, "evaluation": evaluation}, settings=ONE_SETTING,
    )
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    for setting in ONE_SETTING:
        cell = out / "ECG200" / setting / "seed0"
        metrics = json.loads((cell / "metrics.json").read_text())
        scores = metrics["reconstruction"]
        assert scores["fid_recon_ratio"] == pytest.approx(scores["fid_recon"] / scores["fid_real"])
        assert scores["fid_recon_ratio"] > 1  # 8 tiny steps: far from real data
        assert not (cell / "prior.pt").exists() and "generation" not in metrics
    text = (out / "summary.md").read_text()
    assert "## reconstruction.fid_recon_ratio (lower is better)" in text
    # The prior's settings are not read: changing them leaves every cell finished.
    write_spec(
        spec, ucr_dir, stages="reconstruction", datasets=["ECG200"], seeds=[0],
        base={**TINY_BASE, "evaluation": evaluation, "prior": {"n_layers": 1}}, settings=ONE_SETTING,
    )
    plan = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--dry-run"])
    assert plan.exit_code == 0 and "0 to run" in plan.output, plan.output
    # Its evaluation settings are read: changing them scores the kept tokenizer again.
    cell = out / "ECG200" / "none" / "seed0"
    trained = (cell / "tokenizer.pt").stat().st_mtime_ns
    write_spec(
        spec, ucr_dir, stages="reconstruction", datasets=["ECG200"], seeds=[0],
        base={**TINY_BASE, "evaluation": {**evaluation, "halvings": 3}}, settings=ONE_SETTING,
    )
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (cell / "tokenizer.pt").stat().st_mtime_ns == trained
    [before] = cell.glob("metrics.before-*.json")
    old = json.loads(before.read_text())["reconstruction"]
    new_metrics = json.loads((cell / "metrics.json").read_text())
    new = new_metrics["reconstruction"]
    assert old["fid_real"] != new["fid_real"]  # 3 halvings instead of 2: another floor
    # The evaluator lives in the study's folder, not the user's cache, and the cell names it.
    [evaluator] = (out / ".study" / "cache" / "evaluators").glob("ECG200-*.pt")
    assert new_metrics["evaluator"]["path"] == str(evaluator)
    assert new_metrics["evaluator"]["digest"] == weights_digest(load_fcn(evaluator)[0])
    with (out / "runs.csv").open() as f:
        [row] = list(csv.DictReader(f))
    assert row["evaluator"] == new_metrics["evaluator"]["digest"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datasetz": ["ECG200"]}, "unknown key(s) datasetz"),
        ({"settings": {"none": {"ssl": {"method": "none"}}, "bad": {"stage1": {"max_stepz": 3}}}}, "setting 'bad': unknown setting(s) 'max_stepz' in 'stage1'"),
        ({"datasets": []}, "datasets must be a non-empty list"),
        ({"seeds": []}, "seeds must be a non-empty list"),
        ({"settings": {}}, "settings must be a non-empty mapping"),
        ({"baseline": "vicreg"}, "baseline 'vicreg' is not among the settings (none, bt)"),
        ({"settings": {"none": {"ssl": {"method": "none"}}, "bt": {"stage1": {"lr": -1}}}}, "setting 'bt': stage1.lr must be > 0"),
    ],
)
def test_spec_errors_are_one_line_before_anything_runs(tmp_path: Path, ucr_dir: Path, changes: dict, message: str) -> None:
    spec = write_spec(tmp_path / "spec.yaml", ucr_dir, **changes)
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert not out.exists()


def test_slurm_dry_run_prints_the_array_and_the_sbatch_options(tmp_path: Path, ucr_dir: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", ucr_dir, slurm={"time_min": 30, "sbatch": ["--qos=normal"]})
    result = runner.invoke(app, [
        "study", "run", str(spec), "--out", str(tmp_path / "s"), "--executor", "slurm", "--dry-run",
        "--partition", "gpu", "--gpus-per-task", "1", "--sbatch=--account=lab",
    ])
    assert result.exit_code == 0, result.output
    for line in ("#SBATCH --array=0-7%", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1",
                 "#SBATCH --time=30", "#SBATCH --qos=normal", "#SBATCH --account=lab", "array of 8 tasks"):
        assert line in result.output, line
    assert "#   7: TwoLeadECG/bt/seed1" in result.output
    assert not (tmp_path / "s").exists()


def test_slurm_array_runs_every_cell(tmp_path: Path, ucr_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ncvqvae.study import slurm

    monkeypatch.setenv("PATH", f"{FAKE_SLURM}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_STATE", str(tmp_path / "slurm-state"))
    monkeypatch.setattr(slurm, "POLL_S", 0.1)
    spec = write_spec(tmp_path / "spec.yaml", ucr_dir, datasets=["ECG200"])
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--executor", "slurm", "--partition", "debug", "--sbatch=--qos=high", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(finished_cells(out)) == 4
    # submitit sees a task done by its result file; the stand-in records the state a
    # moment later, when the task's process has exited.
    deadline = time.time() + 30
    while True:
        [job] = [json.loads(p.read_text()) for p in (tmp_path / "slurm-state").glob("*.json")]
        if set(job["tasks"].values()) == {"COMPLETED"} or time.time() > deadline:
            break
        time.sleep(0.2)
    assert job["options"]["array"].startswith("0-3%") and job["options"]["partition"] == "debug"
    assert job["options"]["qos"] == "high" and set(job["tasks"].values()) == {"COMPLETED"}


def test_floors_are_references_without_winners_and_lower_better_metrics_rank_low_first() -> None:
    from types import SimpleNamespace

    from ncvqvae.study.report import Summary, average_ranks, compare_to_baseline

    spec = SimpleNamespace(datasets=["A", "B"], settings={"none": {}, "bt": {}}, baseline="none")
    values = {}
    for dataset, none, bt in (("A", 2.0, 1.0), ("B", 3.0, 1.5)):
        values[(dataset, "none", "generation.fid")] = [none]
        values[(dataset, "bt", "generation.fid")] = [bt]
        values[(dataset, "none", "generation.fid_real")] = [0.5]
        values[(dataset, "bt", "generation.fid_real")] = [0.6]
    summary = Summary(values)
    (fid,) = compare_to_baseline(summary, spec, "generation.fid")
    assert (fid.wins, fid.losses) == (2, 0)
    assert average_ranks(summary, spec, "generation.fid") == {"none": 2.0, "bt": 1.0}
    # A floor from real data alone says nothing about the settings: no winner, no rank.
    assert compare_to_baseline(summary, spec, "generation.fid_real") == []
    assert average_ranks(summary, spec, "generation.fid_real") == {}



def test_ranks_leave_out_a_dataset_where_a_setting_has_no_result_yet() -> None:
    from types import SimpleNamespace

    from ncvqvae.study.report import Summary, average_ranks

    spec = SimpleNamespace(datasets=["A", "B"], settings={"none": {}, "bt": {}}, baseline="none")
    # B has only the baseline so far: on A bt is better, and B must not count for none.
    summary = Summary({("A", "none", "tokenizer.probe.svm"): [0.7], ("A", "bt", "tokenizer.probe.svm"): [0.8],
                       ("B", "none", "tokenizer.probe.svm"): [0.9]})
    assert average_ranks(summary, spec, "tokenizer.probe.svm") == {"none": 2.0, "bt": 1.0}


def test_a_one_seed_cell_shows_its_spread_over_draws_and_one_setting_gets_no_rank() -> None:
    from types import SimpleNamespace

    from ncvqvae.study.report import Summary, markdown

    spec = SimpleNamespace(datasets=["A"], settings={"bt": {}}, seeds=[0], baseline="bt", stages="full",
                           headline=["generation.fid", "generation.is_mean"])
    summary = Summary({
        ("A", "bt", "generation.fid"): [0.9], ("A", "bt", "generation.fid_std"): [0.05],
        ("A", "bt", "generation.is_mean"): [1.8], ("A", "bt", "generation.is_std"): [0.1],
    })
    text = markdown(spec, [], summary, {}, "")
    assert "| A | 0.9 ± 0.05 (R) |" in text
    # IS's std is over splits of one set, not over draws: not shown as a spread over R.
    assert "| A | 1.8 (n=1) |" in text
    assert "Average rank" not in text


def test_run_can_be_limited_to_chosen_cells_and_names_outside_the_spec_fail(tmp_path: Path, ucr_dir: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", ucr_dir)
    out = tmp_path / "study"
    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--setting", "bt", "--seed", "1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 of the study's 8 cells (2 pending); 2 to run" in result.output
    assert "ECG200/bt/seed1" in result.output and "TwoLeadECG/bt/seed1" in result.output
    assert "/none/" not in result.output and "seed0" not in result.output

    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--dataset", "ECG200", "--setting", "none", "--seed", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert [p.relative_to(out).as_posix() for p in finished_cells(out)] == ["ECG200/none/seed0"]
    # the tables still cover the whole study, the other cells as not yet run
    assert "ECG200" in (out / "summary.md").read_text()

    result = runner.invoke(app, ["study", "run", str(spec), "--out", str(out), "--setting", "vicreg", "--dataset", "GunPoint"])
    assert result.exit_code == 2
    assert "error: --dataset GunPoint: not in the study spec (ECG200, TwoLeadECG)" in result.output
    assert len(finished_cells(out)) == 1
