"""EfficientNet-Lite: EfficientNet (Tan & Le, ICML 2019) made for mobile accelerators.

The Lite variants of the TensorFlow Model Garden (2020) drop squeeze-excite, use ReLU6 instead of swish and keep
the stem (32 filters) and head (1280 filters) at their base width while scaling the rest, so that they quantise
and run well on phones and CPUs. Keras has no builder for them; this one names its layers the way the ImageNet
archives in ``../shared/pretrained`` key their arrays (``<layer>/<variable>``), so ``load_npz_weights`` fills
them without a conversion table.
"""

import math
from pathlib import Path

import keras
import numpy as np

# EfficientNet-B0's stages: (expand ratio, kernel, first stride, output filters, repeats).
BASE_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
               (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# variant: (width multiplier, depth multiplier, native input size), from the Model Garden's efficientnet_lite.
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260),
            "lite3": (1.2, 1.4, 280), "lite4": (1.4, 1.8, 300)}
STEM_FILTERS, HEAD_FILTERS = 32, 1280
BATCHNORM_EPSILON = 1e-3


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: scale, round to a multiple of ``divisor``, never lose over 10 %."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def block_table(variant: str) -> list[dict]:
    """One row per inverted-residual block: expand filters (None in block 0), kernel, stride, filters in and
    out, and whether the input is added back. Lite keeps the first and last stages' depth unscaled."""
    width, depth, _ = _variant(variant)
    rows, filters_in = [], STEM_FILTERS
    for stage, (expand, kernel, stride, filters, repeats) in enumerate(BASE_STAGES):
        filters_out = round_filters(filters, width)
        if 0 < stage < len(BASE_STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        for repeat in range(repeats):
            block_stride = stride if repeat == 0 else 1
            rows.append({"block": len(rows), "expand_filters": None if expand == 1 else filters_in * expand,
                         "kernel": kernel, "stride": block_stride, "filters_in": filters_in,
                         "filters_out": filters_out, "residual": block_stride == 1 and filters_in == filters_out})
            filters_in = filters_out
    return rows


def EfficientNetLite(variant="lite0", *, include_top=False, weights=None, input_shape=None, classes=1000):
    """Build an EfficientNet-Lite network on images already preprocessed to ``(x - 127) / 128``.

    Args:
      variant: "lite0" … "lite4".
      include_top: add global average pooling and the ImageNet classifier ``predictions`` (logits).
      weights: None, or the path of a ``.npz`` archive in this builder's layout.
      input_shape: (height, width, 3); defaults to the variant's native square size.

    The trunk ends at ``head_relu`` (1280 channels, stride 32).
    """
    width, _, native = _variant(variant)
    if input_shape is None:
        input_shape = (native, native, 3)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"EfficientNet-Lite takes RGB images of shape (height, width, 3), got {input_shape!r}.")
    images = keras.Input(input_shape, name="input_layer")
    x = _conv_bn(images, STEM_FILTERS, 3, 2, "stem", "conv")
    for row in block_table(variant):
        name, shortcut = f"block{row['block']}", x
        if row["expand_filters"] is not None:
            x = _conv_bn(x, row["expand_filters"], 1, 1, f"{name}_expand", "conv")
        x = keras.layers.DepthwiseConv2D(row["kernel"], row["stride"], padding="same", use_bias=False,
                                         name=f"{name}_dwconv")(x)
        x = _bn_relu(x, f"{name}_dw")
        x = keras.layers.Conv2D(row["filters_out"], 1, padding="same", use_bias=False, name=f"{name}_project_conv")(x)
        x = keras.layers.BatchNormalization(epsilon=BATCHNORM_EPSILON, name=f"{name}_project_bn")(x)
        if row["residual"]:
            x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head", "conv")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(classes, name="predictions")(x)
    model = keras.Model(images, x, name=f"efficientnet_{variant}")
    if weights is not None:
        load_npz_weights(model, weights)
    return model


def load_npz_weights(model: keras.Model, path) -> None:
    """Fill every variable of ``model`` from an archive keyed ``<layer>/<variable>``.

    Arrays for layers the model lacks (the classifier of a trunk) are ignored; a model variable that the archive
    lacks, or whose shape differs, is an error that names it, so a wrong file never loads half-way.
    """
    path = Path(path)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    assignments = []
    for layer in model.layers:
        for variable in layer.weights:
            name = "depthwise_kernel" if isinstance(layer, keras.layers.DepthwiseConv2D) else variable.name
            key = f"{layer.name}/{name}"  # the archives keep Keras 2's name for a depthwise kernel
            if key not in arrays:
                raise ValueError(f"{path.name} has no array {key!r}; it does not match {model.name}.")
            if tuple(arrays[key].shape) != tuple(variable.shape):
                raise ValueError(f"{path.name}: {key} has shape {arrays[key].shape}, the model expects "
                                 f"{tuple(variable.shape)}.")
            assignments.append((variable, arrays[key]))
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))


def _variant(variant):
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(f"Unknown EfficientNet-Lite variant {variant!r}; expected one of {', '.join(VARIANTS)}.") \
            from None


def _conv_bn(x, filters, kernel, stride, name, conv_suffix):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                            name=f"{name}_{conv_suffix}")(x)
    return _bn_relu(x, name)


def _bn_relu(x, name):
    x = keras.layers.BatchNormalization(epsilon=BATCHNORM_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)
