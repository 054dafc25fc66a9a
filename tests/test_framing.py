"""Lesion framing: the lesion found, cropped to the scale the models learnt from, and a framed bundle that
behaves like any other."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import require_shared
from skin_core import bundle as bundles
from skin_core.classes import CLASS_CODES
from skin_core.research.ensemble import build_ensemble
from skin_core.framing import Box, Framing, crop_box, farther, framed, lesion_box, placed
from skin_core.predictor import Predictor

SKIN = (214, 170, 150)


def photo_with_lesion(height=300, width=400, centre=None, radius=20, vignette=False):
    """Skin with a dark round lesion, in the middle unless ``centre`` (row, column) says otherwise."""
    centre = centre or (height // 2, width // 2)
    photo = np.zeros((height, width, 3), np.uint8)
    photo[:] = SKIN
    cv2.circle(photo, (centre[1], centre[0]), radius, (90, 50, 40), -1)
    if vignette:  # a dermatoscope's dark corners outside its round field
        rows, columns = np.mgrid[:height, :width]
        outside = np.hypot((rows - height / 2) / (height / 2), (columns - width / 2) / (width / 2)) > 1.15
        photo[outside] = (20, 20, 20)
    return photo


@pytest.mark.parametrize("vignette", [False, True])
def test_the_lesion_s_box_is_found_and_dark_corners_are_not_taken_for_it(vignette):
    photo = photo_with_lesion(centre=(140, 230), radius=25, vignette=vignette)
    box = lesion_box(photo)
    assert box is not None
    assert abs(box.top - 115) <= 4 and abs(box.bottom - 166) <= 4
    assert abs(box.left - 205) <= 4 and abs(box.right - 256) <= 4


def test_a_plain_photo_has_no_lesion_and_is_left_whole():
    plain = np.full((150, 200, 3), SKIN, np.uint8)
    assert lesion_box(plain) is None
    view, box = framed(plain, Framing())
    assert box is None and view is plain


def test_a_small_lesion_is_cropped_to_span_the_target_share_keeping_the_aspect_ratio():
    photo = photo_with_lesion(height=300, width=400, centre=(150, 200), radius=30)  # box 61 px: 0.2 of the height
    framing = Framing(target=0.65, apply_below=0.7, min_scale=0.3)
    view, box = framed(photo, framing)
    assert box is not None
    # the crop's side: the lesion's box (about 61 px) over 0.65 of the crop, on the tighter side (the height)
    assert view.shape[0] == pytest.approx(61 / 0.65, abs=4)
    assert view.shape[1] / view.shape[0] == pytest.approx(400 / 300, abs=0.02)
    assert (box.top + box.bottom) / 2 == pytest.approx(150, abs=2)  # centred on the lesion
    assert (box.left + box.right) / 2 == pytest.approx(200, abs=2)


def test_a_crop_stays_inside_the_photo_and_never_below_the_smallest_scale():
    photo = photo_with_lesion(height=300, width=400, centre=(35, 150), radius=10)  # small, near the top edge
    box = crop_box(photo, Framing(target=0.65, apply_below=0.7, min_scale=0.3))
    assert box is not None
    assert box.bottom - box.top == 90 and box.right - box.left == 120  # 0.3 of each side, not smaller
    assert box.top == 0 and (box.left + box.right) / 2 == pytest.approx(150, abs=2)  # moved in, not cut


def test_a_lesion_that_already_fills_the_photo_is_left_whole():
    photo = photo_with_lesion(height=150, width=200, centre=(75, 100), radius=45)  # as in HAM10000
    assert crop_box(photo, Framing()) is None


def test_farther_shrinks_the_photo_onto_its_skin_colour():
    photo = photo_with_lesion(height=150, width=200, radius=40)
    wider = farther(photo, 0.5)
    assert wider.shape == photo.shape
    np.testing.assert_array_equal(wider[0, 0], SKIN)
    dark = (wider.mean(axis=-1) < 120).mean()
    assert dark == pytest.approx((photo.mean(axis=-1) < 120).mean() * 0.25, rel=0.15)
    with pytest.raises(ValueError, match="got 0"):
        farther(photo, 0)


def test_framing_recovers_the_lesion_scale_of_a_photo_taken_from_further_away():
    photo = photo_with_lesion(height=150, width=200, radius=30)
    view, box = framed(farther(photo, 0.6), Framing(target=0.65, apply_below=0.7, min_scale=0.3))
    assert box is not None
    span = lesion_box(view)
    assert (span.bottom - span.top) / view.shape[0] == pytest.approx(0.65, abs=0.08)


def test_attention_of_the_view_is_put_back_where_the_view_lies():
    attention = np.ones((30, 40), np.float32)
    full = placed(attention, Box(10, 20, 40, 60), (100, 120, 3))
    assert full.shape == (100, 120) and full.sum() == 30 * 40
    assert full[10:40, 20:60].min() == 1 and full[:10].max() == 0
    assert placed(attention, None, (30, 40, 3)) is attention


def test_lesion_box_follows_the_dermatologists_masks_on_ham10000():
    folder = require_shared("data/ham10000")
    rows = pd.read_csv(folder / "HAM10000_metadata.csv").sample(150, random_state=0)
    overlaps = []
    for image_id in rows["image_id"]:
        photo = cv2.cvtColor(cv2.imread(str(folder / "images" / f"{image_id}.jpg")), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(folder / "masks" / f"{image_id}_segmentation.png"), 0) > 127
        rows_, columns = np.nonzero(mask)
        truth = Box(rows_.min(), columns.min(), rows_.max() + 1, columns.max() + 1)
        found = lesion_box(photo)
        overlaps.append(0.0 if found is None else _iou(found, truth))
    assert np.median(overlaps) > 0.65  # measured 0.75 on the 1504 validation photos of the default's split


def _iou(a: Box, b: Box) -> float:
    height = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
    width = max(0, min(a.right, b.right) - max(a.left, b.left))
    inter = height * width
    return inter / ((a.bottom - a.top) * (a.right - a.left) + (b.bottom - b.top) * (b.right - b.left) - inter)


@pytest.fixture(scope="module")
def framed_bundle(tiny_bundle, tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    shutil.copytree(tiny_bundle, folder / "model")
    build_ensemble(["model"], "model-framed", data=tiny_dataset, weights_dir=folder, framing=Framing())
    return folder


def test_a_framed_bundle_has_one_member_its_own_calibration_and_shows_attention_on_the_whole_photo(
        framed_bundle, tmp_path):
    opened = bundles.open_bundle("model-framed", framed_bundle)
    assert opened.config.members == ("model",) and opened.config.framing == Framing()
    assert opened.metrics["split"] == "test" and 0 < opened.config.malignancy_threshold < 1
    predictor = Predictor.from_bundle(opened)
    member = Predictor.from_bundle(bundles.open_bundle("model", framed_bundle))
    photo = farther(photo_with_lesion(height=200, width=260, radius=25), 0.5)
    result = predictor.predict(photo, age=50, sex="female", site="back")
    view, box = framed(photo, Framing())
    assert box is not None
    seen = member.predict(view, age=50, sex="female", site="back")  # the member, shown the crop
    raw = np.array([seen.probabilities[c] for c in CLASS_CODES])
    logits = np.log(raw) / opened.config.temperature
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose([result.probabilities[c] for c in CLASS_CODES], expected, atol=1e-4)
    assert result.attention.shape == photo.shape[:2]
    np.testing.assert_allclose(result.attention[box.top:box.bottom, box.left:box.right], seen.attention, atol=1e-5)
    assert result.attention[:box.top].max() == 0 and result.attention[:, :box.left].max() == 0


def test_framing_settings_and_single_members_are_checked(framed_bundle):
    path = framed_bundle / "model-framed" / bundles.CONFIG_FILE
    original = json.loads(path.read_text())
    try:
        path.write_text(json.dumps({**original, "framing": {**original["framing"], "target": 0}}))
        with pytest.raises(bundles.InvalidBundleError, match="framing.target"):
            bundles.open_bundle("model-framed", framed_bundle)
        path.write_text(json.dumps({**original, "framing": None}))
        with pytest.raises(bundles.InvalidBundleError, match="members"):
            bundles.open_bundle("model-framed", framed_bundle)
    finally:
        path.write_text(json.dumps(original))
    with pytest.raises(ValueError, match="one when it frames"):
        build_ensemble(["model"], "alone", weights_dir=framed_bundle)


def not_dermoscopic_photos(folder: Path) -> Path:
    """An ood_dev-format folder: 8 photos per category, each from its own source."""
    from test_gate import landscape, text_image

    (folder / "images").mkdir(parents=True)
    rows, rng = [], np.random.default_rng(0)
    makers = {"A_clinical": lambda: cv2.resize(landscape(), (200, 150))[..., ::-1].copy(),
              "B_nonskin": lambda: landscape(),
              "C_medical": lambda: np.repeat(cv2.resize(text_image(), (200, 150))[..., :1], 3, axis=-1)}
    for category, make in makers.items():
        for index in range(8):
            photo = cv2.add(make(), rng.integers(0, 40, make().shape, dtype=np.uint8))
            image_id = f"{category}_{index}"
            cv2.imwrite(str(folder / "images" / f"{image_id}.png"), photo)
            rows.append({"image_id": image_id, "category": category, "source_repo": f"{category}-source-{index}",
                         "source_path": f"photos/{index}.png"})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder


def test_the_gate_is_fitted_into_a_new_version_and_an_ensemble_gets_its_own(framed_bundle, tiny_dataset, tmp_path,
                                                                            capsys):
    from skin_core.research.gate_fitting import EXTERNAL_SETS, MAX_FLAGGED
    from skin_core.research.gate_fitting import main as gate_main
    from conftest import write_tiny_dataset

    external = tmp_path / "external"
    for seed, name in enumerate(EXTERNAL_SETS, start=1):
        write_tiny_dataset(external / name, seed=seed)
    ood = not_dermoscopic_photos(tmp_path / "ood")
    before = {path.name: path.read_bytes() for path in (framed_bundle / "model-framed").iterdir()}
    arguments = ["--model", str(framed_bundle / "model-framed"), "--release", "model-framed-v2",
                 "--data", str(tiny_dataset), "--ood", str(ood), "--external", str(external)]
    assert gate_main(arguments) == 0, capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in (framed_bundle / "model-framed").iterdir()} == before
    released = bundles.open_bundle("model-framed-v2", framed_bundle)
    assert released.config.supersedes == "model-framed" and released.config.members == ("model",)
    assert released.config.gate.skin_region and released.config.gate.min_contrast is not None
    predictor = Predictor.from_bundle(released)
    assert Predictor.from_bundle(bundles.open_bundle("model", framed_bundle)).gate is None
    assert predictor.gate is not None and predictor.gate.settings == released.config.gate  # the ensemble's own
    report = released.metrics["gate"]
    assert set(report["in_distribution"]) == {"internal_test", "isic2017_test"}
    assert set(report["tuning"]["choosing_sets"]) == {"ham_val", "isic2017_val", "ph2"}
    assert all(rates["flagged"] <= MAX_FLAGGED for rates in report["tuning"]["choosing_sets"].values())
    assert gate_main(arguments) == 2 and "already exists" in capsys.readouterr().err  # never rewritten
