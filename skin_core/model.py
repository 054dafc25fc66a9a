"""The classifier of Nguyen et al. (Sensors 2022): backbone + Soft-Attention head + metadata branch.

    image -> [Shades-of-Gray colour constancy] -> preprocessing -> backbone trunk -> t
      t -> MaxPool2D(2) ----------------------------\
      t -> SoftAttention -> MaxPool2D(2) -------------> concat -> ReLU -> Dropout(0.5) -> Flatten -\
    metadata (age, sex, site) -> MetadataDropout -> Dense(4096, ReLU) --------------------------------> concat
                                                                                   -> Dense(7, softmax)
"""

import numbers

import keras

from skin_core import metadata as meta
from skin_core.attention import SoftAttention
from skin_core.backbones import TRUNK_SUFFIX, BackboneSpec, ResolvedWeights, get_backbone
from skin_core.classes import CLASS_CODES
from skin_core.layers import ImagePreprocessing, MetadataDropout, ShadesOfGray

# The names by which data pipelines, the Predictor and saved bundles address the model's parts.
IMAGE_INPUT = "image"
METADATA_INPUT = "metadata"
PREPROCESSING_LAYER = "preprocessing"
COLOUR_CONSTANCY_LAYER = "colour_constancy"
ATTENTION_LAYER = "soft_attention"
FEATURE_POOL_LAYER = "feature_pool"  # its input is the backbone's feature map
OUTPUT_LAYER = "probabilities"


MIN_INPUT_SIDE, MAX_INPUT_SIDE = 32, 1024


def input_shape_of(input_size) -> tuple[int, int]:
    """(height, width) from an int (square) or a pair, each within [MIN_INPUT_SIDE, MAX_INPUT_SIDE]."""
    pair = (input_size, input_size) if isinstance(input_size, numbers.Integral) else input_size
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(side, numbers.Integral) and not isinstance(side, bool) for side in pair):
        raise ValueError(f"Input size must be one whole number or two (height, width), got {input_size!r}.")
    if not all(MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE for side in pair):
        raise ValueError(f"Input size {input_size!r} is outside {MIN_INPUT_SIDE}-{MAX_INPUT_SIDE} pixels.")
    return int(pair[0]), int(pair[1])


def build_model(
    backbone="MobileNetV3Small",
    *,
    input_size=None,
    weights=None,
    metadata=True,
    soft_attention=True,
    colour_constancy=False,
    backbone_trainable=True,
    attention_heads=16,
    dropout=0.5,
    metadata_units=4096,
    metadata_dropout=0.1,
    seed=None,
) -> keras.Model:
    """Build the two-input (image, metadata) classifier.

    Args:
      backbone: a name in ``skin_core.backbones.BACKBONES`` or its ``BackboneSpec``.
      input_size: int or (height, width); defaults to the backbone's own size.
      weights: None (random), "imagenet" (Keras download), "shared" (the registered local file), a path to
        a copy of it, or an already resolved ``ResolvedWeights``; its entry sets the preprocessing.
      metadata: add the age / sex / site branch (the model then has a second input, ``metadata``).
      soft_attention: add the Soft-Attention branch (False gives the paper's ablation).
      colour_constancy: normalise each photo's illuminant first (``layers.ShadesOfGray``, p = 6), so photos
        from dermatoscopes with other light sources reach the backbone with comparable colours.
      backbone_trainable: True (all backbone layers), False (frozen) or the name of the first backbone
        layer to train. Batch normalisation always stays frozen: fine-tuning on small batches would replace
        the pretrained statistics (and collapse the folded MobileNetV3 weights).

    Returns:
      A ``keras.Model`` with inputs ``image`` (RGB in [0, 255]) and, with metadata, ``metadata``; output
      ``probabilities`` (B, 7) in float32.
    """
    spec = backbone if isinstance(backbone, BackboneSpec) else get_backbone(backbone)
    if not isinstance(weights, ResolvedWeights):
        weights = spec.resolve_weights(weights)
    height, width = input_shape_of(input_size or spec.input_size)
    image = keras.Input((height, width, 3), name=IMAGE_INPUT)
    inputs = [image]

    trunk = spec.build((height, width, 3), weights=weights)
    set_backbone_trainable(trunk, backbone_trainable)
    mode = spec.preprocessing if weights.entry is None else weights.entry.preprocessing
    x = ShadesOfGray(6.0, name=COLOUR_CONSTANCY_LAYER)(image) if colour_constancy else image
    features = trunk(ImagePreprocessing(mode, name=PREPROCESSING_LAYER)(x))

    branches = [keras.layers.MaxPooling2D(2, padding="same", name=FEATURE_POOL_LAYER)(features)]
    if soft_attention:
        attended, _ = SoftAttention(heads=attention_heads, name=ATTENTION_LAYER)(features)
        branches.append(keras.layers.MaxPooling2D(2, padding="same", name="attention_pool")(attended))
    x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="attention_concat")(branches)
    x = keras.layers.ReLU(name="head_relu")(x)
    x = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    x = keras.layers.Flatten(name="head_flatten")(x)

    if metadata:
        metadata_in = keras.Input((meta.METADATA_DIM,), name=METADATA_INPUT)
        inputs.append(metadata_in)
        m = MetadataDropout(metadata_dropout, [(f.start, f.stop) for f in meta.FIELDS],
                            meta.unknown_vector().tolist(), seed=seed, name="metadata_dropout")(metadata_in)
        m = keras.layers.Dense(metadata_units, activation="relu", name="metadata_dense")(m)
        x = keras.layers.Concatenate(name="image_metadata_concat")([x, m])

    outputs = keras.layers.Dense(len(CLASS_CODES), activation="softmax", dtype="float32", name=OUTPUT_LAYER)(x)
    suffix = ("_sa" if soft_attention else "") + ("_meta" if metadata else "")
    return keras.Model(inputs, outputs, name=f"{spec.name.lower()}{suffix}")


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested backbone trunk of a model built by ``build_model``."""
    return next(layer for layer in model.layers if layer.name.endswith(TRUNK_SUFFIX))


def set_backbone_trainable(trunk: keras.Model, backbone_trainable) -> None:
    """True: every layer; False: none; a layer name: that layer and the ones after it. BN stays frozen."""
    if isinstance(backbone_trainable, str):
        names = [layer.name for layer in trunk.layers]
        if backbone_trainable not in names:
            raise ValueError(f"Layer {backbone_trainable!r} is not in the {trunk.name} backbone.")
        first = names.index(backbone_trainable)
    else:
        first = 0 if backbone_trainable else len(trunk.layers)
    for index, layer in enumerate(trunk.layers):
        layer.trainable = index >= first and not isinstance(layer, keras.layers.BatchNormalization)


def explain_model(model: keras.Model) -> keras.Model:
    """Same inputs; outputs [probabilities (B, 7), pooled backbone features (B, d)] and, with Soft-Attention,
    the per-head attention maps (B, h, w, K). The features describe what the photo looks like to the model
    (the input gate measures how far they are from the training photos)."""
    feature_map = model.get_layer(FEATURE_POOL_LAYER).input
    pooled = keras.layers.GlobalAveragePooling2D(dtype="float32", name="gate_features")(feature_map)
    outputs = [model.get_layer(OUTPUT_LAYER).output, pooled]
    if has_attention(model):
        outputs.append(model.get_layer(ATTENTION_LAYER).output[1])
    return keras.Model(model.inputs, outputs, name=f"{model.name}_explain")


def has_attention(model: keras.Model) -> bool:
    return any(layer.name == ATTENTION_LAYER for layer in model.layers)
