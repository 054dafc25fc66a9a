"""Ensemble bundles: members averaged, recalibrated on validation, usable wherever a bundle is."""

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_train_config
from skin_core import bundle as bundles
from skin_core.calibration import apply_temperature
from skin_core.classes import CLASS_CODES
from skin_core.research.ensemble import build_ensemble
from skin_core.predictor import CalibratedEnsemble, Predictor


@pytest.fixture(scope="module")
def members_dir(tiny_bundle, tiny_dataset, tmp_path_factory):
    """Two bundles trained on one split (the second with another seed and no Soft-Attention)."""
    from skin_core.research.training import train

    folder = tmp_path_factory.mktemp("weights")
    shutil.copytree(tiny_bundle, folder / "first")
    train(tiny_train_config(tiny_dataset, folder / "second", seed=1, soft_attention=False, epochs=0,
                            split=str(tiny_bundle / bundles.SPLIT_FILE), display_name="Second, without attention"))
    return folder


@pytest.fixture(scope="module")
def ensemble(members_dir, tiny_dataset):
    return build_ensemble(["first", "second"], "pair", data=tiny_dataset, weights_dir=members_dir)


def test_ensemble_bundle_describes_itself_and_is_listed_like_any_bundle(ensemble, members_dir):
    opened = bundles.open_bundle(ensemble)
    assert opened.config.is_ensemble and opened.config.members == ("first", "second")
    assert opened.config.display_name == "MobileNetV3Small + Second, without attention"  # the members' names
    assert opened.config.intended_use == "research"  # one member is an ablation
    assert 0 < opened.config.malignancy_threshold < 1 and opened.config.temperature > 0
    assert opened.metrics["split"] == "test" and "validation" in opened.metrics and "image_only" in opened.metrics
    assert "pair" in bundles.list_bundles(members_dir)
    with pytest.raises(bundles.InvalidBundleError, match="no model of its own"):
        opened.load_model()


def test_ensemble_prediction_is_the_recalibrated_mean_of_its_members(ensemble, members_dir, tiny_dataset):
    predictor = Predictor.from_bundle(bundles.open_bundle(ensemble))
    assert isinstance(predictor.calibrated, CalibratedEnsemble)
    photo = next((tiny_dataset / "images").glob("*.jpg"))
    members = [Predictor.from_bundle(bundles.open_bundle(name, members_dir)) for name in ("first", "second")]
    mean = np.mean([[m.predict(photo, age=40, sex="male", site="back").probabilities[c] for c in
                     CLASS_CODES] for m in members], axis=0)
    expected = apply_temperature(mean[None], predictor.config.temperature)[0]
    result = predictor.predict(photo, age=40, sex="male", site="back")
    np.testing.assert_allclose([result.probabilities[c] for c in CLASS_CODES], expected, atol=1e-5)
    assert result.attention is not None  # from the lead member, which has Soft-Attention


def test_members_on_different_splits_are_refused(members_dir, tiny_dataset, tmp_path):
    other = tmp_path / "weights"
    shutil.copytree(members_dir / "first", other / "first")
    shutil.copytree(members_dir / "second", other / "second")
    split = pd.read_csv(other / "second" / bundles.SPLIT_FILE)
    split.loc[0, "split"] = "train" if split.loc[0, "split"] != "train" else "test"
    split.to_csv(other / "second" / bundles.SPLIT_FILE, index=False)
    with pytest.raises(ValueError, match="another split"):
        build_ensemble(["first", "second"], "pair", data=tiny_dataset, weights_dir=other)


def test_an_ensemble_with_a_missing_member_is_reported_not_fatal(ensemble, tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(ensemble, folder / "pair")
    shutil.copytree(ensemble.parent / "first", folder / "first")
    usable, broken = bundles.scan(folder)
    assert [b.name for b in usable] == ["first"]
    assert "member 'second'" in str(broken["pair"])


def test_the_exposure_margin_only_ever_lowers_the_threshold(ensemble, members_dir, tiny_dataset):
    plain = build_ensemble(["first", "second"], "pair-without-margin", data=tiny_dataset, weights_dir=members_dir,
                           exposure_margin=False)
    with_margin, without = bundles.open_bundle(ensemble).config, bundles.open_bundle(plain).config
    assert with_margin.training.arguments["exposure_margin"] is True
    assert without.training.arguments["exposure_margin"] is False
    assert with_margin.temperature == pytest.approx(without.temperature)
    assert with_margin.malignancy_threshold <= without.malignancy_threshold
    assert (with_margin.operating_point.exposure_margin, without.operating_point.exposure_margin) == (True, False)
    assert with_margin.operating_point.threshold_as_is == pytest.approx(without.malignancy_threshold)
    assert without.operating_point.threshold_as_is == without.malignancy_threshold


def test_an_ensemble_answers_arrays_as_a_single_model_does(ensemble, tiny_dataset):
    """predict_arrays takes photos at the lead's size and the lead's metadata rows; each member reads the ages on
    its own scale. Reference: each member's own frame_outputs (encoding the rows itself), averaged, recalibrated."""
    from skin_core.metadata import MetadataEncoder
    from skin_core.predictor import CalibratedModel
    from skin_core.research.data import read_dataset

    predictor = Predictor.from_bundle(bundles.open_bundle(ensemble))
    frame = read_dataset(tiny_dataset).head(6).assign(age=[35, 80, None, 50, 5, 65])
    expected, images = predictor.frame_outputs(frame)
    metadata = predictor.encoder.encode_frame(frame)
    np.testing.assert_allclose(predictor.predict_arrays(images, metadata).probabilities, expected.probabilities,
                               atol=1e-5)

    lead = predictor.calibrated.members[0]
    older = CalibratedModel(lead.runner, lead.input_size, MetadataEncoder(lead.encoder.age_mean + 12,
                                                                          lead.encoder.age_std * 1.5), lead.temperature)
    mixed = CalibratedEnsemble([lead, older], predictor.calibrated.temperature)
    reference = np.mean([member.frame_outputs(frame, images)[0].probabilities for member in (lead, older)], axis=0)
    np.testing.assert_allclose(mixed.predict_arrays(images, metadata).probabilities,
                               apply_temperature(reference, mixed.temperature), atol=1e-5)


def test_a_predictor_is_built_from_final_values_only(ensemble):
    from dataclasses import replace

    predictor = Predictor.from_bundle(bundles.open_bundle(ensemble))
    with pytest.raises(ValueError, match="temperature"):
        Predictor(predictor.calibrated, replace(predictor.config, temperature=predictor.config.temperature * 2))
