import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pandas as pd
import pytest

from conftest import REPORT_FIELDS, tiny_train_config
from skin_core import InvalidImageError, load_predictor
from skin_core import bundle as bundles
from skin_core.research import training
from skin_core.research.evaluate import main as evaluate_main

REPO = Path(__file__).resolve().parent.parent


def test_end_to_end_bundle_describes_itself(tiny_bundle, tiny_dataset):
    for name in (bundles.MODEL_FILE, bundles.CONFIG_FILE, bundles.METRICS_FILE, bundles.SPLIT_FILE,
                 bundles.HISTORY_FILE):
        assert (tiny_bundle / name).is_file(), name
    assert not (tiny_bundle / training.CHECKPOINT_DIR).exists()
    config = bundles.open_bundle(tiny_bundle).config  # validated against the code's classes and vocabulary
    assert config.schema_version == bundles.SCHEMA_VERSION and config.input_size == (64, 64)
    assert config.training.wall_time_s > 0 and config.training.hardware["cpu_count"]
    assert 0 < config.malignancy_threshold < 1 and config.temperature > 0
    point = config.operating_point  # chosen on validation, held on 15 % darker / paler photos too
    assert point.exposure_margin and (point.target_sensitivity, point.confidence) == (0.90, 0.95)
    assert config.malignancy_threshold <= point.threshold_as_is
    assert config.pretrained_weights == {"tag": "none"} and config.model_card.text("intended_use")
    metrics = json.loads((tiny_bundle / bundles.METRICS_FILE).read_text())
    assert metrics["malignant"]["threshold"] == pytest.approx(config.malignancy_threshold, abs=1e-6)
    assert set(REPORT_FIELDS) <= set(metrics) and metrics["split"] == "test"
    assert "ece_before_calibration" in metrics and "image_only" in metrics
    assert metrics["attention_in_lesion"]["n"] == metrics["n"]
    split = pd.read_csv(tiny_bundle / bundles.SPLIT_FILE)
    assert split.groupby("lesion_id")["split"].nunique().max() == 1
    assert metrics["n"] == (split["split"] == "test").sum()
    history = pd.read_csv(tiny_bundle / bundles.HISTORY_FILE)
    assert history["epoch"].tolist() == [0, 1]
    for name in (bundles.CONFIG_FILE, bundles.METRICS_FILE):  # the same files on every machine
        assert str(tiny_dataset.parent) not in (tiny_bundle / name).read_text()
    assert metrics["data"] == config.training.arguments["data"] == tiny_dataset.name

    predictor = load_predictor(tiny_bundle)
    image = next((tiny_dataset / "images").glob("*.jpg"))
    result = predictor.predict(image, age=50, sex="female", site="back")
    assert len(result.ranked) == 7 and sum(p for _, p in result.ranked) == pytest.approx(1.0, abs=1e-5)


def test_paths_are_recorded_relative_to_the_shared_folder_and_found_again(tmp_path, monkeypatch):
    from skin_core import paths

    shared = tmp_path / "elsewhere" / "shared"
    (shared / "data" / "ham10000").mkdir(parents=True)
    monkeypatch.setenv("SKIN_SHARED_DIR", str(shared))
    assert paths.recorded(shared / "data" / "ham10000") == "data/ham10000"
    assert paths.located("data/ham10000") == shared / "data" / "ham10000"
    assert paths.recorded(REPO / "weights" / "mobilenetv2" / "split.csv") == "weights/mobilenetv2/split.csv"
    assert paths.located("weights/mobilenetv2/split.csv") == REPO / "weights" / "mobilenetv2" / "split.csv"
    assert paths.recorded(tmp_path / "clinic-photos") == "clinic-photos"  # outside both: its name only


def test_a_finished_bundle_is_never_overwritten(tiny_bundle, tiny_dataset):
    before = {p.name: p.read_bytes() for p in tiny_bundle.iterdir() if p.is_file()}
    for resume in (False, True):
        with pytest.raises(FileExistsError, match="finished bundle"):
            training.train(tiny_train_config(tiny_dataset, tiny_bundle, resume=resume))
    assert {p.name: p.read_bytes() for p in tiny_bundle.iterdir() if p.is_file()} == before


def test_a_corrupt_image_stops_training_before_anything_is_written(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    broken = sorted((data / "images").glob("*.jpg"))[3]
    broken.write_bytes(broken.read_bytes()[:100])
    out = tmp_path / "run"
    with pytest.raises(InvalidImageError, match=broken.name):
        training.train(tiny_train_config(data, out))
    assert not out.exists()


def test_evaluate_cli_prints_the_report(tiny_bundle, tiny_dataset, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    frame = pd.read_csv(tiny_dataset / "HAM10000_metadata.csv")
    # a clinic's file: only three diagnoses, no lesion ids, empty metadata
    frame = frame[frame["dx"].isin(["mel", "nv", "bkl"])][["image_id", "dx"]].assign(age="", sex="")
    frame.to_csv(labels, index=False)
    out = tmp_path / "report.json"
    code = evaluate_main(["--model", str(tiny_bundle), "--data", str(tiny_dataset), "--labels", str(labels),
                          "--out", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    assert set(REPORT_FIELDS) <= set(report) and report["n"] == len(frame)
    assert report["per_class"]["df"]["absent"] and report["per_class"]["mel"]["support"] == 6
    assert len(report["confusion_matrix"]) == 7


def test_evaluate_cli_reports_a_missing_bundle_without_a_trace(tiny_dataset, tmp_path, capsys):
    assert evaluate_main(["--model", str(tmp_path / "nothing"), "--data", str(tiny_dataset)]) == 2
    assert "No model bundle" in capsys.readouterr().err


def test_resume_continues_from_the_last_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    out = tmp_path / "resumable"
    config = tiny_train_config(tiny_dataset, out, head_epochs=1, epochs=3)

    class PowerCut(keras.callbacks.CSVLogger):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 2:
                raise KeyboardInterrupt("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(training.keras.callbacks, "CSVLogger", PowerCut)
        with pytest.raises(KeyboardInterrupt):
            training.train(config)
    assert (out / training.CHECKPOINT_DIR).is_dir()
    assert pd.read_csv(out / bundles.HISTORY_FILE)["epoch"].tolist() == [0, 1, 2]
    with pytest.raises(FileExistsError, match="--resume"):
        training.train(config)

    config.resume = True
    training.train(config)
    history = pd.read_csv(out / bundles.HISTORY_FILE)
    assert history["epoch"].tolist() == [0, 1, 2, 3]  # only the missing epoch was trained
    assert (out / bundles.MODEL_FILE).is_file()


MIRRORED_SCRIPT = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[3])
from conftest import tiny_train_config
from skin_core.research.training import distribution_strategy, train
strategy = distribution_strategy(["/cpu:0", "/cpu:1"])
print("replicas", strategy.num_replicas_in_sync)
train(tiny_train_config(sys.argv[1], sys.argv[2], devices=["/cpu:0", "/cpu:1"], epochs=0,
                        max_steps_per_epoch=2))
"""


def test_mirrored_strategy_over_two_cpu_devices_trains(tiny_dataset, tmp_path):
    out = tmp_path / "mirrored"
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tiny_dataset), str(out),
                             str(REPO / "tests")], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    assert len(pd.read_csv(out / bundles.HISTORY_FILE)) == 1


def test_train_command_reports_bad_data_in_one_line(tiny_dataset, tmp_path, capsys):
    import train

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    frame = pd.read_csv(data / "HAM10000_metadata.csv")
    frame.loc[4, "localization"] = "left knee"
    frame.to_csv(data / "HAM10000_metadata.csv", index=False)
    out = tmp_path / "run"
    assert train.main(["--data", str(data), "--out", str(out), "--weights", "none", "--input-size", "64"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "line 6" in error and "left knee" in error and "\n" not in error
    assert not out.exists()


def test_time_budget_stops_after_the_epoch_that_spends_it(tiny_dataset, tmp_path):
    out = training.train(tiny_train_config(tiny_dataset, tmp_path / "budget", head_epochs=2, epochs=2,
                                           time_budget_minutes=0, zoom_out=0.5))
    assert len(pd.read_csv(out / bundles.HISTORY_FILE)) == 1  # one epoch, then no fine-tuning stage
    record = bundles.open_bundle(out).config.training
    assert record.epochs_run == 1 and record.arguments["zoom_out"] == 0.5  # trained with photos from further away


def test_train_command_refuses_a_zoom_out_outside_its_range(tmp_path, capsys):
    import train

    with pytest.raises(SystemExit):
        train.main(["--out", str(tmp_path / "run"), "--zoom-out", "1.5"])
    error = capsys.readouterr().err
    assert "--zoom-out must be in (0, 1]" in error and "got 1.5" in error
    assert not (tmp_path / "run").exists()


def test_init_from_continues_a_bundle_and_refuses_another_architecture(tiny_bundle):
    import numpy as np

    from skin_core.model import build_model

    same = build_model("MobileNetV3Small", input_size=64)
    training.continue_from(same, str(tiny_bundle))
    stored = bundles.open_bundle(tiny_bundle).load_model().get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(same.get_weights(), stored))
    with pytest.raises(ValueError, match="does not have this run's architecture"):
        training.continue_from(build_model("MobileNetV3Small", input_size=64, soft_attention=False), str(tiny_bundle))


def test_precision_policy_prefers_bfloat16_only_where_the_gpu_has_it(monkeypatch):
    from skin_core.research import hardware

    assert training.precision_policy(False) == "float32"
    monkeypatch.setattr(hardware, "accelerators", lambda: [])
    assert training.precision_policy(None) == "float32"
    monkeypatch.setattr(hardware, "accelerators", lambda: ["gpu:0"])
    monkeypatch.setattr(hardware, "supports_bfloat16", lambda: True)
    assert training.precision_policy(None) == "mixed_bfloat16"
    monkeypatch.setattr(hardware, "supports_bfloat16", lambda: False)
    assert training.precision_policy(None) == "mixed_float16"


def test_training_speed_benchmark_reports_images_per_second_and_compile_time():
    from skin_core.research.train_bench import training_speed

    figures = training_speed("MobileNetV3Small", (48, 48), batch_size=4, steps=2)
    assert figures["images_per_s"] > 0 and figures["step_ms"] > 0 and figures["policy"] == "float32"
    assert figures["hardware"]["backend"] == keras.backend.backend()


def test_learning_rate_and_adam_epsilon_default_to_the_backbone_row_and_are_recorded(tmp_path):
    # weights=None: the defaults come from the backbone table, not from ../shared's pretrained files
    lite = training.start_run(training.TrainConfig(backbone="EfficientNetLite0", out=str(tmp_path / "a"), weights=None))
    assert (lite.config.learning_rate, lite.config.adam_epsilon) == (1e-4, 1e-7)
    paper = training.start_run(training.TrainConfig(backbone="MobileNetV3Small", out=str(tmp_path / "b"), weights=None))
    assert (paper.config.learning_rate, paper.config.adam_epsilon) == (1e-3, 0.1)
    chosen = training.start_run(training.TrainConfig(backbone="EfficientNetLite0", out=str(tmp_path / "c"), weights=None,
                                                     learning_rate=3e-4, adam_epsilon=0.1))
    assert (chosen.config.learning_rate, chosen.config.adam_epsilon) == (3e-4, 0.1)


@pytest.mark.parametrize(("overrides", "use"), [
    ({}, "clinical"), ({"research": True}, "research"), ({"metadata": False}, "research"),
    ({"soft_attention": False}, "research"), ({"weighted_loss": False}, "research")])
def test_only_a_full_recipe_run_for_use_is_offered_to_doctors(overrides, use):
    from skin_core.research.training import TrainConfig, intended_use

    assert intended_use(TrainConfig(**overrides)) == use
