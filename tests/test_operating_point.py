"""Choosing a trained bundle's malignancy threshold again (skin_core.operating_point)."""

import json
import shutil

import numpy as np
import pytest

from skin_core import bundle as bundles
from skin_core.classes import CLASS_CODES, MALIGNANT_CODES
from skin_core.data import read_dataset
from skin_core.metrics import malignancy_threshold
from skin_core.operating_point import main, recalibrate
from skin_core.predictor import Predictor
from skin_core.robustness import split_rows


@pytest.fixture
def bundle_with_external(tiny_bundle, tiny_dataset, tmp_path):
    """A copy of the tiny bundle whose metrics record an external set (the tiny photos themselves, measured
    at a threshold of 0.5, as an older bundle would have been)."""
    folder = tmp_path / "weights" / "tiny"
    shutil.copytree(tiny_bundle, folder)
    metrics = json.loads((folder / bundles.METRICS_FILE).read_text())
    external = {"data": str(tiny_dataset), "n": 42, "balanced_accuracy": 0.123,
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


def test_the_threshold_is_chosen_on_validation_and_the_figures_follow_it(bundle_with_external, tiny_dataset):
    before = bundles.open_bundle(bundle_with_external)
    summary = recalibrate(str(bundle_with_external), tiny_dataset)
    after = bundles.open_bundle(bundle_with_external)
    point, threshold = after.config.operating_point, after.config.malignancy_threshold
    assert point.exposure_margin and threshold <= point.threshold_as_is and summary["threshold"] == pytest.approx(
        threshold, abs=1e-6)

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
    files = {p.name: p.read_bytes() for p in bundle_with_external.iterdir() if p.is_file()}
    assert main(["--model", str(bundle_with_external), "--data", str(tiny_dataset)]) == 2
    error = capsys.readouterr().err
    assert "other_clinic" in error and "gone" in error and "nothing was changed" in error
    assert {p.name: p.read_bytes() for p in bundle_with_external.iterdir() if p.is_file()} == files


def test_without_the_margin_the_threshold_is_the_one_the_photos_as_they_are_give(bundle_with_external, tiny_dataset,
                                                                                 capsys):
    assert main(["--model", str(bundle_with_external), "--data", str(tiny_dataset), "--no-exposure-margin"]) == 0
    printed = json.loads(capsys.readouterr().out)
    config = bundles.open_bundle(bundle_with_external).config
    assert config.operating_point.exposure_margin is False and printed["exposure_margin"] is False
    assert config.malignancy_threshold == config.operating_point.threshold_as_is
    assert main(["--model", str(bundle_with_external), "--target-sensitivity", "90"]) == 2
    assert "got 90.0" in capsys.readouterr().err
