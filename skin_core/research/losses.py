"""Class weights W_c = N / (C · N_c) and the class-weighted categorical cross-entropy of the paper."""

import keras
import numpy as np
from keras import ops


def class_weights(labels, num_classes: int) -> np.ndarray:
    """W_c = N / (C · N_c) for integer labels; a class absent from ``labels`` gets weight 0."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes)
    present = counts > 0
    weights[present] = counts.sum() / (num_classes * counts[present])
    return weights.astype(np.float32)


@keras.saving.register_keras_serializable(package="skin_core")
class WeightedCategoricalCrossentropy(keras.losses.Loss):
    """Mean over the batch of -sum_c W_c · y_c · log(p_c), for one-hot ``y`` and probabilities ``p``."""

    def __init__(self, class_weights, name="weighted_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        y_pred = ops.clip(ops.cast(y_pred, "float32"), keras.config.epsilon(), 1.0)
        weights = ops.convert_to_tensor(self.class_weights, "float32")
        return -ops.sum(ops.cast(y_true, "float32") * weights * ops.log(y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}
