"""The model code is pure Keras 3: it trains and predicts on JAX too (the GPU machines' backend)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

JAX_SCRIPT = """
import keras, numpy as np
assert keras.backend.backend() == "jax"
from skin_core.data import make_dataset
from skin_core.losses import WeightedCategoricalCrossentropy
from skin_core.metadata import METADATA_DIM
from skin_core.model import build_model
from skin_core.predictor import ModelRunner
model = build_model("MobileNetV3Small", input_size=(64, 80), weights=None)
model.compile(keras.optimizers.Adam(1e-3, epsilon=0.1), WeightedCategoricalCrossentropy([1.0] * 7))
images = np.random.default_rng(0).integers(0, 255, (16, 64, 80, 3)).astype(np.uint8)
history = model.fit(make_dataset(images, np.zeros((16, METADATA_DIM), np.float32), np.arange(16) % 7, batch_size=8,
                                 training=True, seed=0), epochs=1, verbose=0)
assert np.isfinite(history.history["loss"][0])
outputs = ModelRunner(model).run(images[:2], np.zeros((2, METADATA_DIM), np.float32), tta=True)
assert np.allclose(outputs.probabilities.sum(axis=1), 1, atol=1e-5) and outputs.heads.shape[0] == 2
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)")
def test_trains_and_predicts_on_the_jax_backend():
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
