"""The backbone registry: one row per ImageNet CNN, holding everything that differs between backbones.

Attachment points follow Nguyen et al. (Sensors 2022), who replace the last blocks and the classifier of each
backbone with the Soft-Attention head. Adding a backbone means adding one row to ``BACKBONES``.
"""

from dataclasses import dataclass, field
from pathlib import Path

import keras

from skin_core import paths

TRUNK_SUFFIX = "_trunk"  # how build_model finds the nested backbone again


@dataclass(frozen=True)
class LocalWeights:
    """An ImageNet weights file for ``include_top=False`` that does not come from Keras's download.

    Its origin may need other preprocessing or batch-norm epsilon than Keras's own ImageNet weights.
    """

    filename: str
    preprocessing: str
    batchnorm_epsilon: float | None = None


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    constructor: str  # attribute of keras.applications
    input_size: int
    preprocessing: str  # for Keras's own ImageNet weights (see layers.ImagePreprocessing)
    attach_layer: str | None  # None: the output of the include_top=False model
    attach_reason: str
    constructor_kwargs: dict = field(default_factory=dict)
    local_weights: LocalWeights | None = None

    def build(self, input_shape, weights=None) -> keras.Model:
        """The include_top=False backbone, cut at the attachment layer, with ImageNet or local weights.

        ``weights``: None (random), "imagenet" (Keras download) or a path to a ``.weights.h5`` file.
        """
        constructor = getattr(keras.applications, self.constructor)
        download = "imagenet" if weights == "imagenet" else None
        full = constructor(include_top=False, weights=download, input_shape=input_shape,
                           **self.constructor_kwargs)
        if weights not in (None, "imagenet"):
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"Pretrained weights file not found: {path}")
            epsilon = self.weights_settings(weights).batchnorm_epsilon
            if epsilon is not None:
                for layer in full.layers:
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.epsilon = epsilon
            full.load_weights(path)
        output = full.output if self.attach_layer is None else full.get_layer(self.attach_layer).output
        return keras.Model(full.input, output, name=f"{self.name.lower()}{TRUNK_SUFFIX}")

    def weights_settings(self, weights) -> LocalWeights:
        """Preprocessing and batch-norm epsilon that go with the given weights choice."""
        if (weights not in (None, "imagenet") and self.local_weights is not None
                and Path(weights).name == self.local_weights.filename):
            return self.local_weights
        return LocalWeights(filename="", preprocessing=self.preprocessing)

    def shared_weights_path(self) -> Path | None:
        """The local ImageNet file in ../shared/pretrained for this backbone, if one is registered."""
        return None if self.local_weights is None else paths.pretrained_dir() / self.local_weights.filename


_MOBILENET_V3_REASON = (
    "include_top=False stops right before the classifier's two 1x1 convolutions (Conv_2 and Logits), "
    "which the paper replaces with Soft-Attention")

BACKBONES = {spec.name: spec for spec in (
    BackboneSpec(
        "DenseNet201", "DenseNet201", 224, "torch", "relu",
        "final BN-ReLU of the last dense block, right before the global pooling and classifier the paper replaces"),
    BackboneSpec(
        "InceptionResNetV2", "InceptionResNetV2", 299, "tf", "conv_7b_ac",
        "last 1x1 convolution (1536 channels), right before the final average pool and dropout the paper replaces"),
    BackboneSpec(
        "ResNet50", "ResNet50", 224, "caffe", "conv5_block3_out",
        "output of the last residual block, right before the global pooling and classifier the paper replaces"),
    BackboneSpec(
        "ResNet152", "ResNet152", 224, "caffe", "conv5_block3_out",
        "output of the last residual block, right before the global pooling and classifier the paper replaces"),
    BackboneSpec(
        "NASNetLarge", "NASNetLarge", 331, "tf", "normal_concat_16",
        "the paper replaces the last two normal cells (normal_concat_17, normal_concat_18)"),
    BackboneSpec(
        "NASNetMobile", "NASNetMobile", 224, "tf", "normal_concat_11",
        "the paper replaces the last normal cell (normal_concat_12)"),
    BackboneSpec(
        "MobileNetV2", "MobileNetV2", 224, "tf", "block_16_depthwise_relu",
        "the paper replaces the last two 1x1 convolutions (block_16_project and Conv_1)",
        constructor_kwargs={"alpha": 1.0},
        # torchvision's ImageNet weights: torch normalisation and torch's batch-norm epsilon.
        local_weights=LocalWeights("mobilenet_v2_imagenet.weights.h5", "torch", 1e-5)),
    BackboneSpec(
        "MobileNetV3Small", "MobileNetV3Small", 224, "none", None, _MOBILENET_V3_REASON,
        constructor_kwargs={"include_preprocessing": True},
        local_weights=LocalWeights("mobilenet_v3_small_imagenet.weights.h5", "none")),
    BackboneSpec(
        "MobileNetV3Large", "MobileNetV3Large", 224, "none", None, _MOBILENET_V3_REASON,
        constructor_kwargs={"include_preprocessing": True}),
    BackboneSpec(
        "MobileNetV3LargeMinimalistic", "MobileNetV3Large", 224, "none", None, _MOBILENET_V3_REASON,
        constructor_kwargs={"include_preprocessing": True, "minimalistic": True},
        local_weights=LocalWeights("mobilenet_v3_large_minimalistic_imagenet.weights.h5", "none")),
)}


def get_backbone(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown backbone {name!r}; registered: {', '.join(BACKBONES)}.") from None
