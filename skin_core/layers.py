"""Small Keras layers that make a saved model self-contained: preprocessing and metadata dropout."""

import keras
import numpy as np
from keras import ops

# ImageNet statistics used by the "torch" and "caffe" preprocessing of keras.applications.imagenet_utils.
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESSING_MODES = ("torch", "caffe", "tf", "lite", "none")


@keras.saving.register_keras_serializable(package="skin_core")
class ImagePreprocessing(keras.layers.Layer):
    """Maps RGB pixels in [0, 255] to what a backbone's ImageNet weights expect.

    Modes follow ``keras.applications.imagenet_utils.preprocess_input``: ``torch`` (scale to [0, 1], then
    ImageNet mean / std), ``caffe`` (RGB to BGR, subtract the ImageNet mean), ``tf`` (scale to [-1, 1]),
    ``lite`` (EfficientNet-Lite's ``(x - 127) / 128``) and
    ``none`` for backbones that rescale inside themselves (MobileNetV3 with ``include_preprocessing``).
    Keeping this inside the model means a bundle can never be fed with the wrong preprocessing.
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of {PREPROCESSING_MODES}.")
        self.mode = mode

    def call(self, images):
        if self.mode == "torch":
            mean = ops.convert_to_tensor(np.array(_IMAGENET_MEAN_RGB) * 255.0, images.dtype)
            std = ops.convert_to_tensor(np.array(_IMAGENET_STD_RGB) * 255.0, images.dtype)
            return (images - mean) / std
        if self.mode == "caffe":
            return ops.flip(images, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, images.dtype)
        if self.mode == "tf":
            return images / 127.5 - 1.0
        if self.mode == "lite":
            return (images - 127.0) / 128.0
        return images

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="skin_core")
class MetadataDropout(keras.layers.Layer):
    """During training, replaces each metadata field by "unknown" with probability ``rate``, per sample.

    ``fields`` are the ``[start, stop)`` column ranges of age, sex and site in the encoded vector and
    ``unknown`` the encoding of an unknown patient, so the model learns to cope with empty form fields.
    At inference the layer is the identity.
    """

    def __init__(self, rate, fields, unknown, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.fields = [list(map(int, field)) for field in fields]
        self.unknown = [float(v) for v in unknown]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        membership = np.zeros((len(self.fields), len(self.unknown)), dtype="float32")
        for row, (start, stop) in enumerate(self.fields):
            membership[row, start:stop] = 1.0
        self._membership = membership

    def call(self, metadata, training=False):
        if not training or self.rate == 0.0:
            return metadata
        draws = keras.random.uniform((ops.shape(metadata)[0], len(self.fields)), seed=self.seed_generator)
        dropped = ops.cast(draws < self.rate, metadata.dtype)
        mask = ops.matmul(dropped, ops.convert_to_tensor(self._membership, metadata.dtype))
        unknown = ops.convert_to_tensor(self.unknown, metadata.dtype)
        return mask * unknown + (1.0 - mask) * metadata

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "fields": self.fields, "unknown": self.unknown,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="skin_core")
class ShadesOfGray(keras.layers.Layer):
    """Shades-of-Gray colour constancy (Finlayson & Trezzi 2004), as used for dermoscopy by Barata et al. 2015.

    Each photo's illuminant is estimated per channel as the Minkowski ``p``-norm mean of its pixels (p = 6 sits
    between the grey-world mean, p = 1, and max-RGB, p = inf), and each channel is rescaled so that the illuminant
    becomes grey at the photo's own brightness. Inside the saved model it runs identically in training and in
    the app, so a dermatoscope with a warmer or bluer light reaches the backbone with the same colours.
    Input and output are RGB in [0, 255]; it computes in float32 whatever the precision policy.
    """

    def __init__(self, power=6.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not power >= 1:
            raise ValueError(f"The Minkowski power must be at least 1, got {power!r}.")
        self.power = float(power)

    def call(self, images):
        unit = ops.cast(images, "float32") / 255.0
        illuminant = ops.power(ops.mean(ops.power(unit, self.power), axis=(1, 2), keepdims=True), 1.0 / self.power)
        grey = ops.mean(illuminant, axis=-1, keepdims=True)
        return ops.clip(unit * grey / (illuminant + 1e-6), 0.0, 1.0) * 255.0

    def get_config(self):
        return {**super().get_config(), "power": self.power}
