"""Small Keras layers that make a saved model self-contained: preprocessing and metadata dropout."""

import keras
import numpy as np
from keras import ops

# ImageNet statistics used by the "torch" and "caffe" preprocessing of keras.applications.imagenet_utils.
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESSING_MODES = ("torch", "caffe", "tf", "none")


@keras.saving.register_keras_serializable(package="skin_core")
class ImagePreprocessing(keras.layers.Layer):
    """Maps RGB pixels in [0, 255] to what a backbone's ImageNet weights expect.

    Modes follow ``keras.applications.imagenet_utils.preprocess_input``: ``torch`` (scale to [0, 1], then
    ImageNet mean / std), ``caffe`` (RGB to BGR, subtract the ImageNet mean), ``tf`` (scale to [-1, 1]) and
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
