import keras
import numpy as np
import pytest

from skin_core.research.losses import WeightedCategoricalCrossentropy, class_weights


def test_class_weights_follow_n_over_c_times_n_c():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)  # N = 10, C = 4 (class 3 absent)
    weights = class_weights(labels, num_classes=4)
    np.testing.assert_allclose(weights, [10 / (4 * 6), 10 / (4 * 3), 10 / (4 * 1), 0.0], rtol=1e-6)


def test_weighted_loss_equals_the_formula():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 1, 2, 2, 2])
    y_true = np.eye(3)[labels]
    logits = rng.normal(size=(6, 3))
    y_pred = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = class_weights(labels, 3)
    expected = np.mean(-weights[labels] * np.log(y_pred[np.arange(6), labels]))
    loss = WeightedCategoricalCrossentropy(weights)(y_true, y_pred)
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-5)


def test_uniform_weights_reduce_to_plain_cross_entropy():
    y_true = np.eye(3)[[0, 1, 2, 0]]
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]])
    weighted = WeightedCategoricalCrossentropy([1.0, 1.0, 1.0])(y_true, y_pred)
    plain = keras.losses.CategoricalCrossentropy()(y_true, y_pred)
    assert float(weighted) == pytest.approx(float(plain), rel=1e-5)


def test_loss_survives_serialisation():
    loss = WeightedCategoricalCrossentropy([0.5, 2.0])
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.class_weights == [0.5, 2.0]
