"""Soft-Attention layer.

Reference:
  S. K. Datta, M. A. Shaikh, S. N. Srihari, M. Gao, "Soft Attention Improves Skin Cancer Classification
  Performance", iMIMIC / MICCAI workshops 2021 (arXiv:2105.03358); used as in V. D. Nguyen, N. D. Bui,
  H. K. Do, "Skin Lesion Classification on Imbalanced Data Using Deep Learning with Soft Attention",
  Sensors 22(19):7530, 2022.

For a feature map t of shape (B, h, w, d), a 3-D convolution over (h, w, d) with K output channels
(kernel 3 x 3 x d, stride d along the channels, so each head sees every channel) gives K maps; each map is
softmax-normalised over its h·w positions and the K maps are summed into the attention map alpha:

    f_sa = gamma · t · sum_k softmax(W_k * t)

with gamma a learnable scalar. The layer returns f_sa and the K per-head maps (B, h, w, K), so that an
application can draw where the model looked (their sum over K is the aggregated map alpha).

Drawn as they are, the maps are not only about the photo: the backbones' convolutions pad with zeros, and a
stride-2 'same' convolution on an even size pads the bottom and right only, so on a plain photo the last row and
column of the default bundle's 7 x 7 map hold 0.03-0.09 against 0.3-0.5 elsewhere (a cold band in every
overlay). ``relative_maps`` removes what a featureless photo already gets.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="skin_core")
class SoftAttention(keras.layers.Layer):
    """Soft-Attention over a 4-D feature map; returns ``(attended_features, head_maps)``."""

    def __init__(self, heads=16, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads
        self.kernel_size = kernel_size

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, channels, 1, self.heads),
            initializer="glorot_uniform")
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="ones")

    def call(self, features):
        channels = features.shape[-1]
        volume = ops.expand_dims(features, -1)  # (B, h, w, d, 1): a one-channel 3-D volume
        logits = ops.conv(volume, self.kernel, strides=(1, 1, channels), padding="same")  # (B, h, w, 1, K)
        batch, height, width = ops.shape(features)[0], ops.shape(features)[1], ops.shape(features)[2]
        logits = ops.reshape(ops.cast(logits, "float32"), (batch, height * width, self.heads))
        # The spatial softmax is computed in float32 so that it stays exact under mixed precision.
        heads = ops.reshape(ops.softmax(logits, axis=1), (batch, height, width, self.heads))
        alpha = ops.sum(heads, axis=-1, keepdims=True)
        attended = self.gamma * ops.cast(alpha, features.dtype) * features
        return attended, ops.cast(heads, features.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape, tuple(input_shape[:3]) + (self.heads,)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "kernel_size": self.kernel_size}


def relative_maps(heads: np.ndarray, plain_heads: np.ndarray, flat_below: float = 0.0) -> np.ndarray:
    """Per-head maps (..., h, w, K) relative to the same heads for a featureless photo of the same mean colour:
    each head becomes softmax(logits - plain logits), a distribution again, so a plain photo gives a flat map
    and the position biases of the network's padding cancel while what the photo adds keeps its place.

    A head whose spread (max - min) is under ``flat_below`` times its mean value (1 / (h·w)) is made exactly
    flat: with a baseline computed for a nearby colour (``predictor.BASELINE_STEP``) a plain photo keeps a
    residual of a few per cent that a display, stretching every map to [0, 1], would draw at full contrast."""
    ratio = heads / np.maximum(plain_heads, np.finfo(np.float32).tiny)
    maps = ratio / ratio.sum(axis=(-3, -2), keepdims=True)
    if flat_below > 0:
        positions = maps.shape[-3] * maps.shape[-2]
        spread = (maps.max(axis=(-3, -2), keepdims=True) - maps.min(axis=(-3, -2), keepdims=True)) * positions
        maps = np.where(spread < flat_below, 1.0 / positions, maps)
    return maps.astype(np.float32)
