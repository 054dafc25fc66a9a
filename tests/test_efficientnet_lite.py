"""EfficientNet-Lite rebuilt in Keras: architecture against the archives' tables, logits against references."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import require_shared
from skin_core.backbones import get_backbone
from skin_core.efficientnet_lite import EfficientNetLite, block_table, load_npz_weights, round_filters
from skin_core.model import build_model


def test_lite0_has_efficientnet_b0_blocks_and_lite2_scales_only_the_middle_stages():
    lite0, lite2 = block_table("lite0"), block_table("lite2")
    assert sorted({row["filters_out"] for row in lite0}) == [16, 24, 40, 80, 112, 192, 320]
    assert len(lite0) == 16 and len(lite2) == 1 + 3 + 3 + 4 + 4 + 5 + 1  # first and last stage unscaled
    assert [round_filters(f, 1.1) for f in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]
    assert all(row["residual"] == (row["stride"] == 1 and row["filters_in"] == row["filters_out"])
               for row in lite0 + lite2)


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_rebuild_reproduces_the_reference_imagenet_logits(variant):
    weights = require_shared(f"pretrained/efficientnet_{variant}_imagenet.npz")
    reference = json.loads(weights.with_suffix(".json").read_text())
    assert block_table(variant) == reference["blocks"]
    size = reference["input_size"]
    model = EfficientNetLite(variant, include_top=True, weights=weights)
    for name, expected in reference["reference"].items():
        photo = Image.open(weights.parent / "check" / name).convert("RGB").resize((size, size), Image.BILINEAR)
        logits = model.predict((np.asarray(photo, np.float32)[None] - 127.0) / 128.0, verbose=0)[0]
        top5 = np.argsort(-logits)[:5]
        assert top5.tolist() == expected["top5_classes"]
        np.testing.assert_allclose(logits[top5], expected["top5_logits"], atol=1e-3)
    keras.backend.clear_session()


def test_registered_lite_backbones_load_their_archive_and_cut_at_the_last_depthwise_block():
    require_shared("pretrained/efficientnet_lite0_imagenet.npz")
    spec = get_backbone("EfficientNetLite0")
    trunk = spec.build((96, 128, 3), weights=spec.resolve_weights("shared"))
    assert trunk.output.shape[1:] == (3, 4, 1152)  # stride 32, the last block's expanded channels
    with np.load(spec.shared_weights.default_path()) as archive:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(trunk.get_layer("block15_dwconv").kernel),
                                      archive["block15_dwconv/depthwise_kernel"])
    model = build_model("EfficientNetLite0", input_size=(96, 128), weights="shared")
    assert model.get_layer("preprocessing").mode == "lite"


def test_lite_backbones_have_no_keras_download():
    with pytest.raises(ValueError, match="--weights shared"):
        get_backbone("EfficientNetLite2").resolve_weights("imagenet")


def test_a_wrong_archive_is_refused_naming_the_array(tmp_path):
    model = EfficientNetLite("lite0", input_shape=(64, 64, 3))
    arrays = {f"{layer.name}/{'depthwise_kernel' if isinstance(layer, keras.layers.DepthwiseConv2D) else v.name}":
              keras.ops.convert_to_numpy(v) for layer in model.layers for v in layer.weights}
    del arrays["head_bn/gamma"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ValueError, match="head_bn/gamma"):
        load_npz_weights(model, tmp_path / "missing.npz")
    arrays["head_bn/gamma"] = np.ones(7, np.float32)
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(ValueError, match=r"head_bn/gamma has shape \(7,\)"):
        load_npz_weights(model, tmp_path / "shape.npz")
