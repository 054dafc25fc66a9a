import keras
import numpy as np
import pytest

from skin_core.attention import SoftAttention, relative_maps


def numpy_soft_attention(t, kernel, gamma):
    """f_sa = gamma · t · sum_k softmax_hw(W_k * t), with W_k a 3 x 3 x d kernel and zero padding."""
    batch, height, width, channels = t.shape
    heads = kernel.shape[-1]
    padded = np.pad(t, ((0, 0), (1, 1), (1, 1), (0, 0)))
    logits = np.zeros((batch, height, width, heads))
    for i in range(height):
        for j in range(width):
            window = padded[:, i:i + 3, j:j + 3, :]  # (B, 3, 3, d)
            logits[:, i, j, :] = np.einsum("bxyc,xyck->bk", window, kernel[:, :, :, 0, :])
    flat = logits.reshape(batch, height * width, heads)
    flat = np.exp(flat - flat.max(axis=1, keepdims=True))
    maps = (flat / flat.sum(axis=1, keepdims=True)).reshape(batch, height, width, heads)
    return gamma * maps.sum(axis=-1, keepdims=True) * t, maps


def test_soft_attention_matches_numpy_formula():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(2, 5, 6, 8)).astype("float32")
    layer = SoftAttention(heads=4)
    layer.build(t.shape)
    kernel = rng.normal(size=(3, 3, 8, 1, 4)).astype("float32")
    layer.set_weights([kernel, np.float32(0.7)])
    out, maps = layer(t)
    expected_out, expected_maps = numpy_soft_attention(t.astype(np.float64), kernel.astype(np.float64), 0.7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(maps), expected_maps, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected_out, rtol=1e-4, atol=1e-5)


def test_each_head_is_a_spatial_distribution():
    t = np.random.default_rng(0).normal(size=(3, 4, 4, 6)).astype("float32")
    _, maps = SoftAttention(heads=5)(t)
    sums = keras.ops.convert_to_numpy(maps).sum(axis=(1, 2))
    np.testing.assert_allclose(sums, np.ones((3, 5)), rtol=1e-5)


def test_config_round_trip_gives_same_layer():
    layer = SoftAttention(heads=7, kernel_size=3, name="sa")
    clone = SoftAttention.from_config(layer.get_config())
    assert (clone.heads, clone.kernel_size, clone.name) == (7, 3, "sa")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_maps_normalised(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        t = np.random.default_rng(2).normal(size=(2, 4, 4, 8)).astype("float32")
        out, maps = SoftAttention(heads=3)(t)
        assert out.dtype == maps.dtype == policy.split("_")[1]
        sums = keras.ops.convert_to_numpy(keras.ops.cast(maps, "float32")).sum(axis=(1, 2))
        np.testing.assert_allclose(sums, 1.0, atol=2e-2)
    finally:
        keras.config.set_dtype_policy(previous)


def softmax_maps(logits):
    """Per-head spatial softmax of (h, w, K) logits."""
    flat = np.exp(logits - logits.max(axis=(0, 1), keepdims=True))
    return flat / flat.sum(axis=(0, 1), keepdims=True)


def test_relative_maps_cancel_a_position_bias_and_stay_distributions():
    """A bias the network adds at some positions whatever the photo (its padding) cancels: softmax(l + b)
    relative to softmax(b) is softmax(l); a photo no different from the featureless one gives a flat map."""
    rng = np.random.default_rng(3)
    content, bias = rng.normal(size=(7, 7, 4)), np.zeros((7, 7, 4))
    bias[-1, :], bias[:, -1] = -2.5, -2.5  # the cold bottom row and right column
    relative = relative_maps(softmax_maps(content + bias), softmax_maps(bias))
    np.testing.assert_allclose(relative, softmax_maps(content), rtol=1e-5)
    np.testing.assert_allclose(relative.sum(axis=(0, 1)), 1.0, rtol=1e-6)
    plain = softmax_maps(bias)
    np.testing.assert_array_equal(relative_maps(plain[None], plain[None]), np.full((1, 7, 7, 4), 1 / 49, np.float32))


def test_relative_maps_flatten_only_a_residual_below_the_threshold():
    """A head that differs from its baseline by a few per cent (a baseline for a nearby colour) is drawn flat;
    a head with content keeps it."""
    rng = np.random.default_rng(4)
    baseline = softmax_maps(rng.normal(size=(7, 7, 2)))
    heads = baseline * np.exp(np.stack([0.01 * rng.normal(size=(7, 7)), rng.normal(size=(7, 7))], -1))
    heads /= heads.sum(axis=(0, 1), keepdims=True)
    relative = relative_maps(heads, baseline, flat_below=0.35)
    np.testing.assert_array_equal(relative[..., 0], np.full((7, 7), 1 / 49, np.float32))
    np.testing.assert_allclose(relative[..., 1], relative_maps(heads, baseline)[..., 1])
    assert np.ptp(relative[..., 1]) * 49 > 1.0
