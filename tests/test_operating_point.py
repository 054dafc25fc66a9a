"""Choosing a trained bundle's malignancy threshold again (skin_core.research.operating_point)."""

import json
import shutil

import numpy as np
import pytest

from skin_core import bundle as bundles
from skin_core.classes import CLASS_CODES, MALIGNANT_CODES
from skin_core.research.data import read_dataset
from skin_core.metrics import malignancy_threshold, wilson_lower_bound
from skin_core.research.operating_point import main, new_version
from skin_core.predictor import Predictor
from skin_core.research.robustness import split_rows


@pytest.fixture
def bundle_with_external(tiny_bundle, tiny_dataset, tmp_path):
    """A copy of the tiny bundle whose metrics record an external set (the tiny photos themselves, measured
    at a threshold of 0.5, as an older bundle would have been)."""
    folder = tmp_path / "weights" / "tiny"
    shutil.copytree(tiny_bundle, folder)
    metrics = json.loads((folder / bundles.METRICS_FILE).read_text())
    external = {**{key: metrics[key] for key in ("accuracy", "macro_auc", "macro_f1", "per_class", "ece")},
                "data": str(tiny_dataset), "n": 42, "balanced_accuracy": 0.123,
                "malignant": {"threshold": 0.5, "auc": 0.5, "sensitivity": 0.0, "specificity": 1.0}}
    bundles.write_json(folder / bundles.METRICS_FILE, {**metrics, "external": {"other_clinic": external}})
    return folder


def alerts(predictor, rows) -> tuple[np.ndarray, np.ndarray]:
    """Per photo, from Predictor.predict: is it malignant, and the summed malignant probability."""
    truth, scores = [], []
    for path, age, sex, site, dx in zip(rows["path"], rows["age"], rows["sex"], rows["localization"], rows["dx"]):
        result = predictor.predict(path, age=None if np.isnan(age) else age, sex=sex, site=site)
        truth.append(dx in MALIGNANT_CODES)
        scores.append(result.malignant_probability)
    return np.array(truth), np.array(scores)


def files_of(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_the_threshold_is_chosen_on_validation_and_the_figures_follow_it(bundle_with_external, tiny_dataset):
    before = bundles.open_bundle(bundle_with_external)
    released = files_of(bundle_with_external)
    summary = new_version(str(bundle_with_external), "tiny-v2", tiny_dataset)
    assert files_of(bundle_with_external) == released  # the released bundle is never rewritten
    after = bundles.open_bundle(bundle_with_external.parent / "tiny-v2")
    point, threshold = after.config.operating_point, after.config.malignancy_threshold
    assert point.exposure_margin and threshold <= point.threshold_as_is and summary["threshold"] == pytest.approx(
        threshold, abs=1e-6)
    assert after.config.supersedes == "tiny" and after.config.name == "tiny-v2" and point.tuning is None

    predictor = Predictor.from_bundle(after)
    validation = split_rows(after, tiny_dataset, "val")
    probabilities = np.array([[predictor.predict(p, age=None if np.isnan(a) else a, sex=s, site=site)
                               .probabilities[c] for c in CLASS_CODES] for p, a, s, site in
                              zip(validation["path"], validation["age"], validation["sex"], validation["localization"])])
    labels = np.array([CLASS_CODES.index(dx) for dx in validation["dx"]])
    assert point.threshold_as_is == pytest.approx(malignancy_threshold(probabilities, labels, 0.90, 0.95), abs=1e-5)

    for recorded, rows in ((after.metrics["malignant"], split_rows(after, tiny_dataset, "test")),
                           (after.metrics["external"]["other_clinic"]["malignant"], read_dataset(tiny_dataset))):
        truth, scores = alerts(predictor, rows)
        assert recorded["threshold"] == pytest.approx(threshold, abs=1e-6)
        assert recorded["sensitivity"] == pytest.approx((scores[truth] >= threshold).mean(), abs=1e-4)
        assert recorded["specificity"] == pytest.approx((scores[~truth] < threshold).mean(), abs=1e-4)
    # only the malignant figures move: what does not depend on the threshold stays as recorded
    assert after.metrics["balanced_accuracy"] == before.metrics["balanced_accuracy"]
    assert after.metrics["external"]["other_clinic"]["balanced_accuracy"] == 0.123
    assert after.config.temperature == before.config.temperature


def test_nothing_changes_when_a_recorded_external_set_is_missing(bundle_with_external, tiny_dataset, tmp_path,
                                                                 capsys):
    metrics = json.loads((bundle_with_external / bundles.METRICS_FILE).read_text())
    metrics["external"]["other_clinic"]["data"] = str(tmp_path / "gone")
    bundles.write_json(bundle_with_external / bundles.METRICS_FILE, metrics)
    files = files_of(bundle_with_external)
    assert main(["--model", str(bundle_with_external), "--out", "tiny-v2", "--tuning", "--data",
                 str(tiny_dataset)]) == 2
    error = capsys.readouterr().err
    assert "other_clinic" in error and "gone" in error and "nothing was written" in error
    assert files_of(bundle_with_external) == files and not (bundle_with_external.parent / "tiny-v2").exists()


def test_an_existing_bundle_is_never_the_new_version(bundle_with_external, tiny_dataset, capsys):
    assert main(["--model", str(bundle_with_external), "--out", "tiny", "--tuning", "--data", str(tiny_dataset)]) == 2
    assert "never rewritten" in capsys.readouterr().err


def test_tuning_sets_from_other_cameras_can_only_lower_the_threshold(bundle_with_external, tiny_dataset, tmp_path,
                                                                     monkeypatch):
    shared = tmp_path / "shared"
    shutil.copytree(tiny_dataset, shared / "data" / "external" / "tune")
    monkeypatch.setenv("SKIN_SHARED_DIR", str(shared))
    validation_only = new_version(str(bundle_with_external), "tiny-validation", tiny_dataset)
    summary = new_version(str(bundle_with_external), "tiny-tuned", tiny_dataset, tuning=("tune",))
    tuned = bundles.open_bundle(bundle_with_external.parent / "tiny-tuned")
    threshold, tuning = tuned.config.malignancy_threshold, tuned.config.operating_point.tuning
    assert threshold == pytest.approx(min(validation_only["threshold"], tuning["threshold_alone"]), abs=1e-6)
    assert summary["tuning"] == tuning and tuning["sets"] == ["tune"]

    truth, scores = alerts(Predictor.from_bundle(tuned), read_dataset(shared / "data" / "external" / "tune"))
    caught = int((scores[truth] >= threshold).sum())
    assert tuning["melanomas"] == truth.sum() and caught / truth.sum() >= 0.90
    assert tuning["sensitivity"] == pytest.approx(caught / truth.sum(), abs=1e-4)
    assert tuning["specificity"] == pytest.approx((scores[~truth] < threshold).mean(), abs=1e-4)
    assert tuning["wilson_lower_bound"] == pytest.approx(float(wilson_lower_bound(caught, truth.sum())), abs=1e-5)


def test_without_the_margin_the_threshold_is_the_one_the_photos_as_they_are_give(bundle_with_external, tiny_dataset,
                                                                                 capsys):
    assert main(["--model", str(bundle_with_external), "--out", "tiny-v2", "--tuning", "--data", str(tiny_dataset),
                 "--no-exposure-margin"]) == 0
    printed = json.loads(capsys.readouterr().out)
    config = bundles.open_bundle(bundle_with_external.parent / "tiny-v2").config
    assert config.operating_point.exposure_margin is False and printed["exposure_margin"] is False
    assert config.malignancy_threshold == config.operating_point.threshold_as_is
    assert main(["--model", str(bundle_with_external), "--out", "tiny-v3", "--target-sensitivity", "90"]) == 2
    assert "got 90.0" in capsys.readouterr().err
