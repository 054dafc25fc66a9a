"""Every committed bundle in weights/ loads, predicts real HAM10000 examples and carries a full report."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import REPORT_FIELDS, require_shared
from skin_core import bundle as bundles
from skin_core import load_predictor, paths
from skin_core.backbones import BACKBONES
from skin_core.research.bench import benchmark
from skin_core.research.evaluate import main as evaluate_main

COMMITTED = bundles.list_bundles(paths.REPO_DIR / "weights")
EXAMPLES = paths.REPO_DIR / "assets" / "examples"


def test_weights_folder_names_an_existing_default():
    catalogue = bundles.read_catalogue(paths.REPO_DIR / "weights")
    assert catalogue.default in COMMITTED and set(catalogue.released) <= set(COMMITTED)
    released = [bundles.open_bundle(name) for name in catalogue.released]
    assert all(b.config.clinical and b.config.display_name for b in released)
    assert len({b.config.display_name for b in released}) == len(released)  # a doctor tells them apart


@pytest.mark.parametrize("name", COMMITTED)
def test_bundle_predicts_the_example_images(name):
    predictor = load_predictor(paths.REPO_DIR / "weights" / name)
    examples = pd.read_csv(EXAMPLES / "examples.csv")
    for row in examples.itertuples():
        result = predictor.predict(EXAMPLES / f"{row.dx}.jpg", age=row.age, sex=row.sex, site=row.localization)
        probabilities = np.array([p for _, p in result.ranked])
        assert len(result.ranked) == 7 and probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.all(np.diff(probabilities) <= 0)
        if predictor.config.soft_attention:
            assert result.attention.shape == (150, 200)


def test_every_released_model_s_gate_accepts_other_cameras_and_was_chosen_on_tuning_sets_only():
    """The input gates of the models a doctor is offered: fitted with photos from other cameras, their threshold
    chosen on HAM10000 validation, isic2017_val and ph2 (at most MAX_FLAGGED of each flagged), reported on sets
    they never saw."""
    from skin_core.research.gate_fitting import MAX_FLAGGED

    for name in bundles.read_catalogue(paths.REPO_DIR / "weights").released:
        bundle = bundles.open_bundle(name)
        gate = bundle.metrics["gate"]
        assert bundle.config.gate.skin_region and bundle.config.gate.min_contrast is not None
        assert "isic2017_train" in gate["tuned_on"]["in_distribution"]
        assert set(gate["tuning"]["choosing_sets"]) == {"ham_val", "isic2017_val", "ph2"}
        assert all(rates["flagged"] <= MAX_FLAGGED for rates in gate["tuning"]["choosing_sets"].values())
        assert gate["in_distribution"]["isic2017_test"]["flagged"] <= 0.03, name
        assert gate["in_distribution"]["internal_test"]["flagged"] <= 0.02, name
        assert bundle.metrics["external"]["isic2017_test"]["gate"] == gate["in_distribution"]["isic2017_test"]
        assert gate["latency_ms_median"] < 1.0


@pytest.mark.parametrize("name", COMMITTED)
def test_bundle_describes_itself(name):
    folder = paths.REPO_DIR / "weights" / name
    bundle = bundles.open_bundle(folder)  # the config is validated on opening
    config, metrics = bundle.config, bundle.metrics
    assert set(REPORT_FIELDS) <= set(metrics) and metrics["split"] == "test"
    assert {"balanced_accuracy", "ece"} <= set(metrics["validation"])
    assert config.training.wall_time_s > 0 and config.training.hardware["cpu_count"]
    assert bundle.benchmark is not None and bundle.benchmark.latency_ms_median > 0
    assert config.model_card.text("limits", "vi") and config.model_card.citations
    assert "isic2017_test" in metrics["external"]
    models = bundles.open_members(bundle) if config.is_ensemble else [bundle]
    for model in models:
        assert model.config.pretrained_weights["file"] == BACKBONES[model.config.backbone].shared_weights.filename
        assert (model.path / bundles.MODEL_FILE).stat().st_size < 30 * 2**20
    if config.clinical:  # what is offered for diagnosis checks its input first (an ensemble: its own or its lead's)
        gated = config if config.gate is not None else models[0].config
        assert gated.gate is not None and (bundles.open_bundle(gated.name).path / "gate.npz").is_file()
        gate = metrics["gate"]
        assert set(gate["in_distribution"]) == {"internal_test", "isic2017_test"}
        assert set(gate["out_of_distribution"]) == {"A_clinical", "A_clinical_logo_cropped", "B_nonskin",
                                                    "C_medical"}
        assert gate["threshold"] == gated.gate.threshold and gate["latency_ms_median"] > 0
    if config.soft_attention:
        assert metrics["attention_in_lesion"]["n"] == metrics["n"]
    split = pd.read_csv(folder / bundles.SPLIT_FILE)
    assert split.groupby("lesion_id")["split"].nunique().max() == 1


def test_all_bundles_share_one_split():
    splits = [pd.read_csv(paths.REPO_DIR / "weights" / name / bundles.SPLIT_FILE).sort_values("image_id")
              for name in COMMITTED]
    for other in splits[1:]:
        assert other["split"].tolist() == splits[0]["split"].tolist()


def test_benchmark_records_its_figures_and_machine():
    figures = benchmark(bundles.open_bundle(None, paths.REPO_DIR / "weights"), runs=5)
    assert 0 < figures.latency_ms_median <= figures.latency_ms_p90
    assert figures.keras_predict_ms_median > 0 and figures.throughput_images_per_s > 0
    assert figures.parameters > 0 and figures.hardware["cpu_count"]


def test_reports_are_added_beside_a_released_bundle_whose_config_never_changes(tiny_bundle, tmp_path, capsys):
    from skin_core.research.bench import main as bench_main

    folder = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, folder)
    released = (folder / bundles.CONFIG_FILE).read_bytes(), (folder / bundles.METRICS_FILE).read_bytes()
    release = bundles.open_bundle(folder).release
    assert bench_main(["--model", str(folder), "--runs", "2"]) == 0
    examples, labelled = paths.REPO_DIR / "assets" / "examples", tmp_path / "labelled"
    (labelled / "images").mkdir(parents=True)
    for row in pd.read_csv(examples / "examples.csv").itertuples():
        shutil.copy(examples / f"{row.dx}.jpg", labelled / "images" / f"{row.image_id}.jpg")
    shutil.copy(examples / "examples.csv", labelled / "labels.csv")
    assert evaluate_main(["--model", str(folder), "--data", str(labelled), "--record-external", "clinic_a"]) == 0
    capsys.readouterr()
    opened = bundles.open_bundle(folder)
    assert ((folder / bundles.CONFIG_FILE).read_bytes(), (folder / bundles.METRICS_FILE).read_bytes()) == released
    assert opened.benchmark.runs == 2 and opened.config.benchmark == bundles.open_bundle(tiny_bundle).config.benchmark
    assert opened.metrics["external"]["clinic_a"]["n"] == 7 and opened.release == release  # reports change no answer
    with pytest.raises(FileExistsError, match="never rewritten"):
        bundles.write_config(folder, opened.config)


def test_the_release_changes_with_anything_that_changes_an_answer_and_only_then(tmp_path):
    from dataclasses import replace

    source = bundles.open_bundle(bundles.default_bundle_name(paths.REPO_DIR / "weights"), paths.REPO_DIR / "weights")

    def released(name, **changes):
        folder = tmp_path / name
        bundles.copy_for_new_version(source, folder)
        bundles.write_config(folder, replace(source.config, name=name, **changes))
        return bundles.open_bundle(folder).release

    copy = released("copy")
    same = released("same-answers", display_name="Another name", supersedes=source.name,
                    model_card=replace(source.config.model_card, citations=("Another citation",)))
    assert same == copy and same.startswith(source.config.version + "+")
    moved = released("new-threshold", malignancy_threshold=source.config.malignancy_threshold + 0.01)
    warmer = released("new-temperature", temperature=source.config.temperature * 1.1)
    assert len({copy, moved, warmer}) == 3 and moved.split("+")[0] == source.config.version
    (tmp_path / "same-answers" / "gate.npz").write_bytes(b"changed statistics")
    assert bundles.open_bundle(tmp_path / "same-answers").release != copy
    ensemble = bundles.open_bundle("ensemble-four-v2", paths.REPO_DIR / "weights")
    assert ensemble.release.startswith(ensemble.config.version + "+")


def test_default_bundle_on_the_external_isic2017_set(capsys):
    folder = require_shared("data/external/isic2017_test")
    default = paths.REPO_DIR / "weights" / bundles.default_bundle_name(paths.REPO_DIR / "weights")
    assert evaluate_main(["--model", str(default), "--data", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 600
    assert report["per_class"]["bcc"]["absent"] and not report["per_class"]["mel"]["absent"]
    assert report["malignant"]["auc"] is not None
    gate = report["gate"]
    assert gate["n"] == 600 and gate["ok"] + gate["not_dermoscopic"] + gate["poor_quality"] == 600
    assert report["accepted_only"]["n"] == gate["ok"]


def test_the_models_table_is_written_from_the_bundles_reports():
    """docs/models-table.md is generated (python -m skin_core models-table): a bundle added, replaced or
    measured again without it being rewritten fails here."""
    from skin_core.research.models_table import table

    written = (paths.REPO_DIR / "docs" / "models-table.md").read_text(encoding="utf-8")
    assert written == table(paths.REPO_DIR / "weights")
    catalogue = bundles.read_catalogue(paths.REPO_DIR / "weights")
    assert f"| {catalogue.default} | **default** |" in written


def test_the_answers_tool_names_each_changed_answer_and_nothing_else(tmp_path, capsys):
    from tools.answers import answers, differences, main

    shutil.copytree(paths.REPO_DIR / "weights" / "mobilenetv3small", tmp_path / "weights" / "mobilenetv3small")
    found = answers(tmp_path / "weights")
    assert list(found) == ["mobilenetv3small"] and len(found["mobilenetv3small"]) == 7
    mel = found["mobilenetv3small"]["mel"]
    assert sum(mel["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert mel["alert"] == (mel["malignant_probability"] >= mel["malignancy_threshold"])
    changed = json.loads(json.dumps(found))
    changed["mobilenetv3small"]["bcc"]["alert"] = not changed["mobilenetv3small"]["bcc"]["alert"]
    assert differences(found, found) == [] and len(differences(found, changed)) == 1
    assert differences(found, changed)[0].startswith("mobilenetv3small / bcc:")
    for name, content in (("before.json", found), ("after.json", changed)):
        (tmp_path / name).write_text(json.dumps(content), encoding="utf-8")
    assert main(["--compare", str(tmp_path / "before.json"), str(tmp_path / "before.json")]) == 0
    assert main(["--compare", str(tmp_path / "before.json"), str(tmp_path / "after.json")]) == 1
    assert "mobilenetv3small / bcc" in capsys.readouterr().out
