"""The input gate: photos that are not usable dermoscopic lesion images are flagged before any diagnosis."""

import cv2
import numpy as np
import pandas as pd
import pytest

from skin_core import bundle as bundles
from skin_core import load_predictor, paths
from conftest import require_shared
from skin_core.gate import (BLURRED, LESION_TOO_SMALL, NOT_DERMOSCOPIC, OK, POOR_QUALITY, GateSettings, InputGate,
                            fit_gate, lesion_share, operating_threshold, quality_measures, split_ood)

EXAMPLES = paths.REPO_DIR / "assets" / "examples"


def text_image() -> np.ndarray:
    """A scanned-document look: black lines of text on white paper."""
    page = np.full((600, 800, 3), 245, np.uint8)
    for row in range(12):
        cv2.putText(page, "Invoice 2026-11 total 120.000 VND paid", (30, 45 + row * 45),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    return page


def landscape() -> np.ndarray:
    """An outdoor-photo look: sky over grass, with texture."""
    rng = np.random.default_rng(0)
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[:150], photo[150:] = (120, 170, 230), (60, 140, 50)
    return cv2.add(photo, rng.integers(0, 30, photo.shape, dtype=np.uint8))


def blurred_lesion() -> np.ndarray:
    photo = cv2.imread(str(EXAMPLES / "mel.jpg"))[..., ::-1]
    return cv2.GaussianBlur(photo, (0, 0), 4)


@pytest.fixture(scope="module")
def default_predictor():
    return load_predictor(paths.REPO_DIR / "weights" / (paths.REPO_DIR / "weights" / bundles.DEFAULT_FILE)
                          .read_text().strip())


def test_the_threshold_flags_each_category_s_target_share_out_of_fold():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0.2, 1.0, 50), rng.uniform(0.5, 1.0, 40)]
    categories = np.array(["A_clinical"] * 50 + ["B_nonskin"] * 40)
    threshold = operating_threshold(scores, categories, {"A_clinical": 0.8, "B_nonskin": 0.95})
    assert threshold == pytest.approx(min(np.quantile(scores[:50], 0.2), np.quantile(scores[50:], 0.05)))
    assert (scores[:50] >= threshold).mean() >= 0.8 and (scores[50:] >= threshold).mean() >= 0.95


def test_sharpness_and_brightness_are_what_they_say():
    flat = np.full((1, 150, 200, 3), 128, np.uint8)
    sharp = np.random.default_rng(0).integers(0, 255, (1, 150, 200, 3), np.uint8)
    blurred = cv2.GaussianBlur(sharp[0], (0, 0), 3)[None]
    measures = quality_measures(np.concatenate([flat, sharp, blurred]))
    assert measures[0, 0] == 0 and measures[0, 1] == pytest.approx(128)
    assert measures[1, 0] > 10 * measures[2, 0] > 0
    grey = cv2.cvtColor(sharp[0], cv2.COLOR_RGB2GRAY).astype(np.float64)
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    assert measures[1, 0] == pytest.approx(laplacian.var(), rel=0.05)  # interior: the border barely counts


def test_a_gate_fitted_on_separable_features_flags_the_other_kind():
    rng = np.random.default_rng(1)
    positives = rng.normal(0, 1, (400, 8))
    negatives = rng.normal(0, 1, (60, 8)) + np.array([3, 0, 0, 0, 0, 0, 0, -3])
    images = rng.integers(60, 200, (400, 32, 32, 3), np.uint8)
    validation = rng.normal(0, 1, (300, 8))
    gate = fit_gate(positives, images, validation, negatives, np.array(["B_nonskin"] * 60), np.repeat(np.arange(6), 10))
    assert (gate.scores(validation) >= gate.settings.threshold).mean() <= 0.01
    fresh_in = rng.normal(0, 1, (200, 8))
    fresh_out = rng.normal(0, 1, (200, 8)) + np.array([3, 0, 0, 0, 0, 0, 0, -3])
    assert (gate.scores(fresh_out) >= gate.settings.threshold).mean() >= 0.9
    assert (gate.scores(fresh_in) >= gate.settings.threshold).mean() <= 0.1
    sharpness, brightness, share = quality_measures(images).T
    assert gate.settings.min_lesion_share == pytest.approx(np.percentile(share, 0.1))
    assert gate.settings.min_sharpness == pytest.approx(np.percentile(sharpness, 0.1))
    assert gate.settings.max_brightness == pytest.approx(np.percentile(brightness, 99.9))


def skin_with_lesion(radius: int, seed: int = 0) -> np.ndarray:
    """A dermoscopy look at 150×200: textured pink-beige skin with a brown disc of ``radius`` at the centre."""
    rng = np.random.default_rng(seed)
    photo = np.zeros((150, 200, 3), np.uint8)
    photo[:] = (215, 170, 150)
    cv2.circle(photo, (100, 75), radius, (110, 70, 50), -1)
    return cv2.add(photo, rng.integers(0, 20, photo.shape, dtype=np.uint8))


@pytest.mark.parametrize("radius", [6, 15, 40, 70])
def test_lesion_share_is_the_drawn_lesion_s_share_of_the_photo(radius):
    grey = cv2.cvtColor(skin_with_lesion(radius), cv2.COLOR_RGB2GRAY)
    drawn = np.zeros(grey.shape, np.uint8)
    cv2.circle(drawn, (100, 75), radius, 1, -1)
    assert lesion_share(grey) == pytest.approx(drawn.mean(), rel=0.15)


def test_a_lesion_too_small_in_the_frame_is_poor_quality_named_as_such():
    dimension = 4
    settings = GateSettings(threshold=0.9, min_sharpness=0.0, min_brightness=0.0, max_brightness=255.0,
                            min_lesion_share=0.01)
    gate = InputGate(np.zeros(dimension), np.ones(dimension), np.zeros(dimension), -5.0, settings)
    photos = np.stack([skin_with_lesion(4), skin_with_lesion(40), np.full((150, 200, 3), (215, 170, 150), np.uint8)])
    tiny, usual, no_lesion = gate.decide(np.zeros((3, dimension)), photos)
    assert (tiny.reason, tiny.problem) == (POOR_QUALITY, LESION_TOO_SMALL)
    assert usual.reason == OK
    assert (no_lesion.reason, no_lesion.problem) == (POOR_QUALITY, LESION_TOO_SMALL)
    older = InputGate(gate.feature_mean, gate.feature_scale, gate.coef, gate.intercept,
                      GateSettings(0.9, 0.0, 0.0, 255.0))  # fitted before the check: no size limit
    assert older.decide(np.zeros((1, dimension)), photos[:1])[0].reason == OK


def test_lesion_share_follows_the_dermatologists_lesion_masks():
    from scipy.stats import spearmanr

    ham = require_shared("data/ham10000")
    split = pd.read_csv(paths.REPO_DIR / "weights" / "mobilenetv2" / bundles.SPLIT_FILE, dtype={"image_id": str})
    estimated, masked = [], []
    for image_id in split.loc[split["split"] == "val", "image_id"]:
        photo = cv2.resize(cv2.imread(str(ham / "images" / f"{image_id}.jpg")), (200, 150), interpolation=cv2.INTER_AREA)
        mask = cv2.imread(str(ham / "masks" / f"{image_id}_segmentation.png"), cv2.IMREAD_GRAYSCALE)
        estimated.append(lesion_share(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)))
        masked.append((cv2.resize(mask, (200, 150), interpolation=cv2.INTER_NEAREST) > 127).mean())
    assert spearmanr(estimated, masked).statistic >= 0.75  # 0.79 measured; weaker on pale lesions (gate.py)


def test_ood_split_keeps_each_source_on_one_side():
    labels = pd.DataFrame({"category": ["B_nonskin"] * 6 + ["A_clinical"] * 4,
                           "source_repo": ["r1", "r1", "r2", "r2", "r3", "r4", "derm", "derm", "derm", "derm"],
                           "source_path": ["a/1", "a/2", "b/1", "b/2", "c/1", "d/1", "x/1", "x/2", "y/1", "y/2"]})
    parts = split_ood(labels)
    assert set(parts) == {"tune", "report"}
    for key in (labels["source_repo"][:6], labels["source_path"][6:].str[0]):
        assert parts.groupby(key).nunique().max() == 1


def test_generated_non_lesion_photos_are_flagged_and_the_examples_pass(default_predictor):
    flat = default_predictor.predict(np.full((300, 400, 3), (200, 150, 130), np.uint8)).gate
    blurred = default_predictor.predict(blurred_lesion()).gate
    document = default_predictor.predict(text_image()).gate
    outdoors = default_predictor.predict(landscape()).gate
    assert flat.flagged and document.flagged and outdoors.reason == NOT_DERMOSCOPIC
    assert blurred.reason == POOR_QUALITY and blurred.problem == BLURRED
    assert document.reason in (NOT_DERMOSCOPIC, POOR_QUALITY)
    examples = pd.read_csv(EXAMPLES / "examples.csv")
    for row in examples.itertuples():
        decision = default_predictor.predict(EXAMPLES / f"{row.dx}.jpg", age=row.age, sex=row.sex,
                                             site=row.localization).gate
        assert decision.reason == OK, (row.dx, decision)


def test_a_damaged_gate_file_is_a_bundle_error(tmp_path):
    import shutil

    folder = tmp_path / "damaged-gate"
    shutil.copytree(paths.REPO_DIR / "weights" / "mobilenetv3small", folder)
    (folder / "gate.npz").write_bytes(b"not a numpy archive")
    with pytest.raises(bundles.InvalidBundleError, match="damaged-gate.*gate.npz"):
        load_predictor(folder)
    np.savez(folder / "gate.npz", feature_mean=np.zeros(3), feature_scale=np.ones(3), coef=np.zeros(3),
             intercept=np.float64(0))
    with pytest.raises(bundles.InvalidBundleError, match="features"):
        load_predictor(folder)


def test_gate_round_trip(tmp_path):
    bundle = bundles.open_bundle(paths.REPO_DIR / "weights" / "mobilenetv3small")
    gate = bundle.load_gate(576)
    gate.save(tmp_path)
    again = InputGate.load(tmp_path, bundle.config.gate, 576)
    np.testing.assert_array_equal(again.coef, gate.coef)
    assert again.intercept == gate.intercept and again.settings == gate.settings
