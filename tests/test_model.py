import shutil

import keras
import numpy as np
import pytest

from conftest import require_shared
from skin_core import bundle as bundles
from skin_core import metadata as meta
from skin_core import paths
from skin_core.backbones import BACKBONES, get_backbone
from skin_core.model import ATTENTION_LAYER, build_model, explain_model

SMALL = 96  # large enough for every backbone's stem (InceptionResNetV2 needs 75)
REFERENCE_CONFIG = paths.REPO_DIR / "weights" / "mobilenetv3small" / bundles.CONFIG_FILE


def random_inputs(batch, size, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (batch, *size, 3)).astype("float32")
    metadata = np.stack([meta.MetadataEncoder(50, 15).encode(rng.integers(1, 90), "male", "back")
                         for _ in range(batch)])
    return {"image": image, "metadata": metadata}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_with_attention_and_metadata(name):
    model = build_model(name, input_size=SMALL, weights=None)
    probabilities, features, heads = explain_model(model)(random_inputs(2, (SMALL, SMALL)), training=False)
    probabilities = keras.ops.convert_to_numpy(probabilities)
    assert probabilities.shape == (2, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    trunk = next(layer for layer in model.layers if layer.name.endswith("_trunk"))
    _, height, width, _ = trunk.output.shape
    assert tuple(heads.shape) == (2, height, width, 16)
    assert tuple(features.shape) == (2, trunk.output.shape[-1])
    keras.backend.clear_session()


def test_registry_rows_state_sizes_and_attachment_reasons():
    assert get_backbone("InceptionResNetV2").input_size == 299
    assert get_backbone("NASNetLarge").input_size == 331
    assert get_backbone("EfficientNetLite2").input_size == 260
    assert {spec.input_size for name, spec in BACKBONES.items()
            if name not in ("InceptionResNetV2", "NASNetLarge", "EfficientNetLite2")} == {224}
    assert all(spec.attach_reason for spec in BACKBONES.values())
    with pytest.raises(ValueError, match="registered"):
        get_backbone("VGG16")


def test_ablations_remove_their_branch():
    image_only = build_model("MobileNetV3Small", input_size=64, metadata=False)
    assert [t.name for t in image_only.inputs] == ["image"]
    no_attention = build_model("MobileNetV3Small", input_size=64, soft_attention=False)
    assert ATTENTION_LAYER not in [layer.name for layer in no_attention.layers]
    out = no_attention(random_inputs(1, (64, 64)))
    assert out.shape == (1, 7)


def test_batch_norm_stays_frozen_and_trainable_from_is_honoured():
    model = build_model("MobileNetV3Small", input_size=64, backbone_trainable="expanded_conv_10_expand")
    trunk = model.get_layer("mobilenetv3small_trunk")
    assert not any(layer.trainable for layer in trunk.layers
                   if isinstance(layer, keras.layers.BatchNormalization))
    names = [layer.name for layer in trunk.layers]
    first = names.index("expanded_conv_10_expand")
    assert not any(layer.trainable_weights for layer in trunk.layers[:first])
    assert trunk.get_layer("expanded_conv_10_expand").trainable
    frozen = build_model("MobileNetV3Small", input_size=64, backbone_trainable=False)
    assert not frozen.get_layer("mobilenetv3small_trunk").trainable_weights


def test_save_and_load_round_trip_gives_identical_predictions(tmp_path):
    model = build_model("MobileNetV3Small", input_size=(64, 80), seed=3)
    inputs = random_inputs(3, (64, 80))
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    bundles.save_model(model, tmp_path)
    shutil.copy(REFERENCE_CONFIG, tmp_path / bundles.CONFIG_FILE)
    reloaded = bundles.open_bundle(tmp_path).load_model()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(inputs, training=False)), expected, atol=1e-6)
    assert reloaded.get_layer(ATTENTION_LAYER).heads == 16


def test_loading_refuses_bundles_that_would_run_code(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / bundles.MODEL_FILE)
    shutil.copy(REFERENCE_CONFIG, tmp_path / bundles.CONFIG_FILE)
    with pytest.raises(bundles.InvalidBundleError, match="(?i)model.keras.*(unsafe|safe_mode|lambda)"):
        bundles.open_bundle(tmp_path).load_model()


@pytest.mark.parametrize("name", ["MobileNetV2", "MobileNetV3Small", "MobileNetV3LargeMinimalistic"])
def test_shared_imagenet_weights_load_into_their_backbones(name):
    import h5py

    spec = get_backbone(name)
    path = require_shared(f"pretrained/{spec.shared_weights.filename}")
    with h5py.File(path) as stored:
        arrays = []
        stored.visititems(lambda _, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    stored_fingerprints = {(a.shape, round(float(np.abs(a).sum()), 2)) for a in arrays}
    trunk = spec.build((96, 128, 3), weights=spec.resolve_weights("shared"))
    loaded = [keras.ops.convert_to_numpy(w) for w in trunk.weights]
    assert loaded
    # Every weight of the (possibly cut) backbone is one of the file's arrays, not a random initialisation.
    for array in loaded:
        assert (array.shape, round(float(np.abs(array).sum()), 2)) in stored_fingerprints
    if spec.shared_weights.batchnorm_epsilon:
        assert all(layer.epsilon == spec.shared_weights.batchnorm_epsilon for layer in trunk.layers
                   if isinstance(layer, keras.layers.BatchNormalization))
    features = keras.ops.convert_to_numpy(trunk(np.full((1, 96, 128, 3), 128.0, "float32")))
    assert np.isfinite(features).all() and features.std() > 0


def test_missing_pretrained_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Pretrained weights file not found"):
        build_model("MobileNetV2", input_size=64, weights=str(tmp_path / "absent.weights.h5"))
