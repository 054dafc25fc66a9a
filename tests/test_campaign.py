"""The GPU training campaign (campaign.py): the plan is checked before a lent minute is spent, archives fit what
a device call returns and unpack into checked bundles, and prepare -> run -> unpack works end to end on this CPU
with the shipped tiny plan (JAX backend, as on the GPU machine)."""

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import write_tiny_dataset
from test_backends import requires_jax

import campaign

REPO = Path(__file__).resolve().parent.parent
PLANS = REPO / "tools" / "campaign"


def _write_plan(path: Path, **changes) -> Path:
    raw = {**json.loads((PLANS / "tiny.json").read_text(encoding="utf-8")), **changes}
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def test_the_shipped_plans_fit_one_call_and_cross_recipes_with_seeds():
    plan = campaign.Plan.load(PLANS / "isic2017-arms.json")
    assert [run.name for run in plan.runs()] == [
        "efficientnetlite2-224-h100-isic2017-seed0", "efficientnetlite2-224-h100-control-seed0",
        "efficientnetlite2-224-h100-isic2017-seed1", "efficientnetlite2-224-h100-control-seed1"]
    assert plan.minutes_needed() <= campaign.AIM_MINUTES
    isic = plan.runs()[2].args
    assert "{shared}/data/external/isic2017_train" in isic and any("seed 1" in arg for arg in isic)
    assert not any("isic2017" in arg for arg in plan.runs()[1].args if arg.startswith("{shared}"))
    tiny = campaign.Plan.load(PLANS / "tiny.json")
    assert tiny.waves() == 2 and tiny.minutes_needed() <= campaign.AIM_MINUTES


@pytest.mark.parametrize("changes, message", [
    ({"budget_minutes": 6}, "needs 14.5 min"),  # two waves of 6 + 1 min do not fit 8
    ({"seeds": list(range(4))}, "8 runs"),  # 7 archives and the log at most
    ({"common": ["--seed", "3"]}, "sets --seed"),
    ({"common": ["--time-budget-minutes=3"]}, "sets --time-budget-minutes"),
    ({"bundle_prefix": "two words"}, "letters, digits"),
    ({"parallel": 0}, "parallel must be at least 1 (got 0)"),
])
def test_a_plan_that_cannot_work_is_refused_with_its_values(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        campaign.Plan.load(_write_plan(tmp_path / "plan.json", **changes))


def test_a_malformed_plan_names_itself(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"name": "x"}', encoding="utf-8")
    with pytest.raises(ValueError, match="plan.json is not a campaign plan"):
        campaign.Plan.load(path)


def test_each_run_gets_its_seed_folder_budget_and_the_shared_folder_of_the_machine():
    run = campaign.Plan.load(PLANS / "tiny.json").runs()[0]
    args = campaign.train_arguments(run, Path("/carry/shared"), Path("runs/x"), 2.5, resume=True)
    assert "/carry/shared/data/external/isic2017_train" in args
    assert args[-7:] == ["--seed", "0", "--out", "runs/x", "--time-budget-minutes", "2.50", "--resume"]


def test_byte_planes_round_trip_and_odd_tails_survive():
    data = bytes(range(256)) * 41 + b"xyz"
    assert campaign.from_planes(campaign.to_planes(data)) == data
    assert campaign.to_planes(data) != data


def test_only_a_run_with_a_logged_epoch_is_resumed(tmp_path):
    cut_early = tmp_path / "early"
    (cut_early / "checkpoint").mkdir(parents=True)
    assert not campaign.resumable(cut_early) and not cut_early.exists()  # would skip --init-from
    cut_later = tmp_path / "later"
    cut_later.mkdir()
    (cut_later / "history.csv").write_text("epoch,loss\n0,1.9\n", encoding="utf-8")
    assert campaign.resumable(cut_later) and cut_later.exists()
    assert not campaign.resumable(tmp_path / "never")


def test_runs_cut_at_the_stop_time_end_together_within_one_grace_period():
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"
    processes = [subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, start_new_session=True),
                 subprocess.Popen(["sleep", "60"], start_new_session=True)]
    processes[0].stdout.readline()  # its SIGTERM handler is in place
    started = time.time()
    campaign._stop(processes, grace_s=1)
    assert time.time() - started < 10 and all(process.poll() is not None for process in processes)
    assert processes[0].returncode == -9 and processes[1].returncode == -15


def test_an_archive_that_cannot_come_back_stays_out_and_is_logged(tmp_path):
    out, spare = tmp_path / "out", tmp_path / "work" / "archives"
    out.mkdir()
    spare.mkdir(parents=True)
    log = campaign.Log(out / campaign.LOG_NAME)
    big = spare / "big.tar.gz"
    with big.open("wb") as file:
        file.truncate(campaign.OUT_FILE_LIMIT + 1)
    assert not campaign.place(big, out, log) and big.exists()
    for index in range(campaign.OUT_FILES - 1):
        small = spare / f"b{index}.tar.gz"
        small.write_bytes(b"x")
        assert campaign.place(small, out, log)
    extra = spare / "extra.tar.gz"
    extra.write_bytes(b"x")
    assert not campaign.place(extra, out, log)
    assert len(list(out.iterdir())) == campaign.OUT_FILES
    assert "big.tar.gz (16.0 MiB) cannot come back" in (out / campaign.LOG_NAME).read_text(encoding="utf-8")


def test_unpack_refuses_a_damaged_or_foreign_archive(tmp_path, tiny_bundle):
    archives, weights = tmp_path / "archives", tmp_path / "weights"
    archives.mkdir()
    weights.mkdir()
    good = campaign.archive_bundle(tiny_bundle, archives)
    renamed = good.rename(archives / "other.tar.gz")
    with pytest.raises(ValueError, match="names bundle 'tiny', not 'other'"):
        campaign.unpack_one(renamed, weights)
    damaged = archives / "tiny.tar.gz"
    with tarfile.open(renamed) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.endswith(".planes"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            campaign._add(target, member.name, data)
    with pytest.raises(ValueError, match="does not match its recorded hash"):
        campaign.unpack_one(damaged, weights)
    assert list(weights.iterdir()) == []  # nothing half-unpacked is left behind


@requires_jax
def test_prepare_run_and_unpack_end_to_end_on_the_cpu(tmp_path):
    shared = tmp_path / "shared"
    write_tiny_dataset(shared / "data" / "ham10000")
    write_tiny_dataset(shared / "data" / "external" / "isic2017_train", lesions_per_class=1, seed=1)
    plan = _write_plan(tmp_path / "plan.json", seeds=[0])  # both arms, two at a time, one wave
    carry, out, weights = tmp_path / "carry", tmp_path / "OUT", tmp_path / "weights"
    weights.mkdir()
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}

    def step(*args):
        result = subprocess.run([sys.executable, "campaign.py", *args], check=False, cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=600)
        return result.returncode, result.stdout + result.stderr

    code, output = step("prepare", "--plan", str(plan), "--shared", str(shared), "--carry", str(carry),
                        "--no-wheels", "--weights", str(weights))
    assert code == 0, output[-3000:]
    assert not (carry / "shared" / "data" / "ham10000" / "masks").exists()
    assert json.loads(output.split("Device call (run tool arguments): ")[1])["timeout_s"] == 540
    started = time.time()
    code, output = step("run", "--carry", str(carry), "--out", str(out), "--work", str(tmp_path / "work"))
    assert code == 0, output[-3000:]
    returned = sorted(path.name for path in out.iterdir())
    assert returned == ["campaign-tiny-control-seed0.tar.gz", "campaign-tiny-isic2017-seed0.tar.gz",
                        campaign.LOG_NAME]
    assert len(returned) <= campaign.OUT_FILES and time.time() - started < 60 * campaign.CALL_MINUTES
    log = (out / campaign.LOG_NAME).read_text(encoding="utf-8")
    assert "Training on" in log and '"status": "finished"' in log

    code, output = step("unpack", "--archives", str(out), "--weights", str(weights))
    assert code == 0, output[-3000:]
    from skin_core import bundle as bundles

    for name in ("campaign-tiny-control-seed0", "campaign-tiny-isic2017-seed0"):
        opened = bundles.open_bundle(weights / name)
        assert opened.config.intended_use == "research" and opened.metrics["n"] > 0
    assert bundles.open_bundle(weights / "campaign-tiny-isic2017-seed0").config.training.arguments["extra_train"]
    code, output = step("unpack", "--archives", str(out), "--weights", str(weights))
    assert code == 1 and "never overwritten" in output
