"""Colour constancy inside the model and augmentation inside the training step."""

import keras
import numpy as np
import pytest

from skin_core.research.augmentation import LesionAugmentation, _rotate_hue, training_model
from skin_core.layers import ShadesOfGray
from skin_core.model import COLOUR_CONSTANCY_LAYER, build_model


def shades_of_gray_reference(images, power=6.0):
    """Finlayson & Trezzi's estimate and correction, written out in numpy."""
    unit = images.astype(np.float64) / 255.0
    illuminant = np.mean(unit ** power, axis=(1, 2), keepdims=True) ** (1.0 / power)
    corrected = unit * illuminant.mean(axis=-1, keepdims=True) / illuminant
    return np.clip(corrected, 0, 1) * 255.0


def test_shades_of_gray_matches_the_numpy_reference_and_greys_the_illuminant():
    rng = np.random.default_rng(0)
    photos = rng.uniform(20, 230, (3, 40, 50, 3)) * np.array([[1.0, 0.8, 0.6]])  # a warm light
    out = keras.ops.convert_to_numpy(ShadesOfGray(6.0)(photos.astype("float32")))
    np.testing.assert_allclose(out, shades_of_gray_reference(photos), atol=0.05)
    illuminant = np.mean((out / 255.0) ** 6, axis=(1, 2)) ** (1 / 6)
    np.testing.assert_allclose(illuminant / illuminant.mean(axis=1, keepdims=True), 1.0, rtol=0.02)
    # The same scene under a bluer light comes out close to the same (only a global brightness change remains).
    bluer = np.clip(photos / np.array([1.0, 0.8, 0.6]) * np.array([0.7, 0.85, 1.0]), 0, 255).astype("float32")
    again = keras.ops.convert_to_numpy(ShadesOfGray(6.0)(bluer))
    assert np.abs(again - out).mean() < 0.25 * np.abs(photos - bluer).mean()


def test_colour_constancy_is_part_of_the_saved_model(tmp_path):
    model = build_model("MobileNetV3Small", input_size=48, colour_constancy=True)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer(COLOUR_CONSTANCY_LAYER).power == 6.0
    photo = {"image": np.random.default_rng(1).uniform(0, 255, (1, 48, 48, 3)).astype("float32"),
             "metadata": np.zeros((1, model.inputs[1].shape[1]), "float32")}
    np.testing.assert_allclose(loaded(photo), model(photo), atol=1e-6)


def test_augmentation_is_the_identity_at_inference_and_random_in_training():
    photos = np.random.default_rng(0).uniform(0, 255, (6, 30, 40, 3)).astype("float32")
    layer = LesionAugmentation(seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(photos)), photos)
    out = keras.ops.convert_to_numpy(layer(photos, training=True))
    assert out.shape == photos.shape and out.min() >= 0 and out.max() <= 255.0 + 1e-3
    assert not np.allclose(out, photos)
    assert not np.allclose(out[0], keras.ops.convert_to_numpy(layer(photos, training=True))[0])  # new draw


def test_geometric_augmentation_moves_pixels_but_keeps_a_uniform_photo_uniform():
    layer = LesionAugmentation(photometric=False, seed=0)
    uniform = np.full((4, 32, 48, 3), 140.0, "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(uniform, training=True)), 140.0, atol=1e-3)
    spot = np.zeros((4, 32, 48, 3), "float32")
    spot[:, 4:10, 4:10] = 255.0
    moved = keras.ops.convert_to_numpy(layer(spot, training=True))
    assert not np.allclose(moved, spot)


def test_photometric_changes_follow_their_ranges():
    photos = np.random.default_rng(2).uniform(60, 200, (64, 8, 8, 3)).astype("float32")
    brightness_only = LesionAugmentation(crop_area=(1, 1), zoom=0, shift=0, contrast=0, saturation=0, hue=0,
                                         gamma=1.0, brightness=0.2, seed=0)
    # rotation and flips keep the mean of a photo; brightness scales it by a factor in [0.8, 1.2]
    out = keras.ops.convert_to_numpy(brightness_only(photos, training=True))
    ratio = out.mean(axis=(1, 2, 3)) / photos.mean(axis=(1, 2, 3))
    assert ratio.min() >= 0.8 - 0.02 and ratio.max() <= 1.2 + 0.02 and ratio.std() > 0.05


def test_hue_rotation_by_zero_is_the_identity_and_keeps_grey_grey():
    rgb = np.random.default_rng(4).uniform(0, 1, (2, 5, 5, 3)).astype("float32")
    same = keras.ops.convert_to_numpy(_rotate_hue(rgb, np.zeros(2, "float32")))
    np.testing.assert_allclose(same, rgb, atol=2e-3)
    grey = np.full((2, 3, 3, 3), 0.5, "float32")
    turned = keras.ops.convert_to_numpy(_rotate_hue(grey, np.array([1.0, -2.0], "float32")))
    np.testing.assert_allclose(turned, 0.5, atol=2e-3)


def test_training_wrapper_shares_the_classifier_and_keeps_its_input_names():
    model = build_model("MobileNetV3Small", input_size=32)
    trainer = training_model(model, LesionAugmentation(seed=0))
    assert [t.name for t in trainer.inputs] == [t.name for t in model.inputs]
    assert {id(v) for v in model.trainable_variables} <= {id(v) for v in trainer.trainable_variables}


def test_bad_crop_range_is_refused():
    with pytest.raises(ValueError, match="crop_area"):
        LesionAugmentation(crop_area=(0.0, 1.0))


def test_zoom_out_shows_the_lesion_smaller_on_the_photo_s_own_skin_without_a_seam():
    skin = np.array([200.0, 150.0, 120.0], "float32")
    photos = np.tile(skin, (8, 60, 80, 1)).astype("float32")
    np.testing.assert_allclose(  # a photo of skin alone stays skin everywhere: no seam, no black corners
        keras.ops.convert_to_numpy(LesionAugmentation(zoom_out=0.4, zoom_out_probability=1.0, photometric=False,
                                                      seed=0)(photos, training=True)), photos, atol=0.05)
    photos[:, 20:40, 30:50] = (60.0, 40.0, 30.0)
    layer = LesionAugmentation(zoom_out=0.4, zoom_out_probability=1.0, photometric=False, zoom=0, seed=1)
    out = keras.ops.convert_to_numpy(layer(photos, training=True))
    dark = (out.mean(axis=-1) < 100).mean(axis=(1, 2)) / (photos.mean(axis=-1) < 100).mean(axis=(1, 2))
    assert dark.min() >= 0.4 ** 2 - 0.05 and dark.max() <= 1.0 + 0.05 and dark.std() > 0.02  # scale 0.4 to 1
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    np.testing.assert_allclose(corners, np.broadcast_to(skin, corners.shape), atol=1.0)


def test_zoom_out_settings_are_checked_and_kept_in_the_layer_config():
    layer = LesionAugmentation(zoom_out=0.5, zoom_out_probability=0.3)
    again = LesionAugmentation.from_config(layer.get_config())
    assert (again.zoom_out, again.zoom_out_probability) == (0.5, 0.3)
    with pytest.raises(ValueError, match="got 0"):
        LesionAugmentation(zoom_out=0)
    with pytest.raises(ValueError, match="got 1.5"):
        LesionAugmentation(zoom_out_probability=1.5)
