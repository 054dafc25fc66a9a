"""The model code is pure Keras 3: it trains and predicts on JAX too (the GPU machines' backend)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# .ci/run sets SKIN_REQUIRE_JAX=1: there a missing JAX fails these tests instead of skipping them.
requires_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None and not os.environ.get("SKIN_REQUIRE_JAX"),
                                  reason="JAX is not installed (pip install -r requirements-test.txt)")

JAX_SCRIPT = """
import keras, numpy as np
assert keras.backend.backend() == "jax"
from skin_core.research.data import make_dataset
from skin_core.research.losses import WeightedCategoricalCrossentropy
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


@requires_jax
def test_trains_and_predicts_on_the_jax_backend():
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


NO_TENSORFLOW_SCRIPT = """
import json, sys, zipfile
class NoTensorFlow:  # as on the GPU machines, where TensorFlow is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError("No module named 'tensorflow'")
sys.meta_path.insert(0, NoTensorFlow())
sys.path.insert(0, sys.argv[3])
import keras
from conftest import tiny_train_config
from skin_core import bundle as bundles
from skin_core.research.training import train
devices = json.loads(sys.argv[4])
out = train(tiny_train_config(sys.argv[1], sys.argv[2], epochs=0, max_steps_per_epoch=1, mixed_precision=True,
                              devices=devices, colour_constancy=True))
assert "tensorflow" not in sys.modules
if devices:
    assert type(keras.distribution.distribution()).__name__ == "DataParallel"
    print("devices", len(keras.distribution.distribution().device_mesh.devices.flatten()))
saved = zipfile.ZipFile(out / bundles.MODEL_FILE).read("config.json").decode()
print("mixed in bundle:", "mixed_" in saved)
print("policy while training:", keras.mixed_precision.global_policy().name)
config = bundles.open_bundle(out).config
print("colour constancy:", config.colour_constancy, "steps:", len(open(out / bundles.HISTORY_FILE).readlines()) - 1)
"""


def _train_without_tensorflow(tiny_dataset, out, devices, extra_env=None):
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW_SCRIPT, str(tiny_dataset), str(out),
                             str(REPO / "tests"), json.dumps(devices)], cwd=REPO, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO),
                                              **(extra_env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@requires_jax
def test_trains_on_jax_without_tensorflow_with_mixed_precision_and_a_step_cap(tiny_dataset, tmp_path):
    stdout = _train_without_tensorflow(tiny_dataset, tmp_path / "jax", [])
    assert "policy while training: mixed_float16" in stdout  # no bfloat16 unit on this CPU
    assert "mixed in bundle: False" in stdout  # the bundle holds a float32 model for the clinic's CPU
    assert "colour constancy: True steps: 1" in stdout


@requires_jax
def test_jax_data_parallel_over_two_devices(tiny_dataset, tmp_path):
    stdout = _train_without_tensorflow(tiny_dataset, tmp_path / "parallel", ["cpu:0", "cpu:1"],
                                       {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert "devices 2" in stdout and "mixed in bundle: False" in stdout
