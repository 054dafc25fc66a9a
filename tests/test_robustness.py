"""How steady a model's answer stays under exposure and focus changes (skin_core.research.robustness)."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from conftest import require_shared
from skin_core import imaging, load_predictor, paths
from skin_core.classes import CLASS_CODES
from skin_core.metrics import malignancy_threshold
from skin_core.research.operating_point import EXPOSURE_MARGIN, exposure_margin_threshold
from skin_core.research.robustness import BLURRED, DARKER, FARTHER, WASHED_OUT, degraded, main, stability

EXAMPLES = paths.REPO_DIR / "assets" / "examples"


def test_the_changes_are_what_they_say():
    photo = np.random.default_rng(0).integers(0, 256, (60, 80, 3), np.uint8)
    np.testing.assert_array_equal(degraded(photo, DARKER, 0.5), np.rint(photo * 0.5).astype(np.uint8))
    np.testing.assert_array_equal(degraded(photo, WASHED_OUT, 0.5),
                                  np.rint(255 - (255 - photo.astype(np.float64)) * 0.5).astype(np.uint8))
    grey = lambda image: cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert grey(degraded(photo, BLURRED, 2.0)) < 0.05 * grey(photo)
    wider = degraded(photo, FARTHER, 0.5)
    np.testing.assert_array_equal(wider[15:45, 20:60], cv2.resize(photo, (40, 30), interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError, match="'sharper'"):
        degraded(photo, "sharper", 1.0)


def test_stability_matches_the_predictor_photo_by_photo():
    """The shares equal what Predictor.predict says on each intact and changed photo; no change = all same."""
    predictor = load_predictor(paths.REPO_DIR / "weights" / "mobilenetv3small")
    examples = pd.read_csv(EXAMPLES / "examples.csv")
    photos = [imaging.load_rgb(EXAMPLES / f"{dx}.jpg") for dx in examples["dx"]]
    details = [(age, sex, site) for age, sex, site in zip(examples["age"], examples["sex"], examples["localization"])]
    report = stability(predictor, photos, details, changes=((DARKER, 1.0), (DARKER, 0.55), (BLURRED, 2.0)))
    assert report["darker x1"] == {"same_top": 1.0, "same_alert": 1.0}

    def reference(change, level):
        same_top, same_alert = [], []
        for photo, (age, sex, site) in zip(photos, details):
            before = predictor.predict(photo, age=age, sex=sex, site=site)
            after = predictor.predict(degraded(photo, change, level), age=age, sex=sex, site=site)
            same_top.append(before.top[0] == after.top[0])
            same_alert.append(before.malignancy_alert == after.malignancy_alert)
        return {"same_top": round(float(np.mean(same_top)), 4), "same_alert": round(float(np.mean(same_alert)), 4)}

    assert report["darker x0.55"] == reference(DARKER, 0.55)
    labels = np.array([CLASS_CODES.index(dx) for dx in examples["dx"]])
    with_accuracy = stability(predictor, photos, details, changes=((DARKER, 0.55),), labels=labels)
    tops = [CLASS_CODES.index(predictor.predict(degraded(p, DARKER, 0.55), age=a, sex=s, site=t).top[0])
            for p, (a, s, t) in zip(photos, details)]
    assert with_accuracy["darker x0.55"]["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(labels, tops), abs=1e-4)
    assert report["blurred x2"] == reference(BLURRED, 2.0)


def test_the_exposure_margin_threshold_holds_on_every_exposure_change():
    """The operating point is the lowest of the thresholds chosen on the photos as they are and on each
    exposure change, each computed here from Predictor.predict."""
    predictor = load_predictor(paths.REPO_DIR / "weights" / "mobilenetv3small")
    examples = pd.read_csv(EXAMPLES / "examples.csv")
    photos = [imaging.load_rgb(EXAMPLES / f"{dx}.jpg") for dx in examples["dx"]]
    details = [(age, sex, site) for age, sex, site in zip(examples["age"], examples["sex"], examples["localization"])]
    labels = np.array([CLASS_CODES.index(dx) for dx in examples["dx"]])

    def threshold_on(variant):
        probabilities = np.array([[predictor.predict(photo, age=age, sex=sex, site=site).probabilities[code]
                                   for code in CLASS_CODES] for photo, (age, sex, site) in zip(variant, details)])
        return malignancy_threshold(probabilities, labels, 0.9, 0.95)

    expected = min([threshold_on(photos)] + [threshold_on([degraded(p, change, level) for p in photos])
                                             for change, level in EXPOSURE_MARGIN])
    found = min(threshold_on(photos), exposure_margin_threshold(predictor, photos, details, labels, 0.9, 0.95))
    assert found == pytest.approx(expected, abs=1e-5) and found <= threshold_on(photos)


def test_the_command_reports_every_change_on_validation_photos(capsys):
    data = require_shared("data/ham10000")
    assert main(["--model", "mobilenetv3small", "--data", str(data), "--photos", "12"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["photos"] == 12 and report["split"] == "validation"
    changes = report["changes"]
    assert len(changes) == 10 and {"as is", "farther x0.6", "farther x0.4"} <= set(changes)
    assert all(0.0 <= v["same_top"] <= 1.0 and 0.0 <= v["same_alert"] <= 1.0
               for name, v in changes.items() if name != "as is")
    assert all(0.0 <= v["balanced_accuracy"] <= 1.0 for v in changes.values())


def test_the_command_measures_only_the_changes_asked_for(capsys):
    data = require_shared("data/ham10000")
    assert main(["--model", "mobilenetv3small", "--data", str(data), "--photos", "8", "--changes", FARTHER]) == 0
    assert set(json.loads(capsys.readouterr().out)["changes"]) == {"as is", "farther x0.6", "farther x0.4"}


def test_the_command_names_a_missing_bundle(capsys):
    assert main(["--model", "no-such-bundle", "--photos", "5"]) == 2
    assert "no-such-bundle" in capsys.readouterr().err
