"""Training speed on this machine: compile time and images per second of the full fine-tuning step.

    python -m skin_core train-bench --backbone MobileNetV2 --input-size 224 [--batch-size 32] [--steps 40]

The step is the real one: uint8 batches from ``ArrayBatches`` / tf.data, augmentation inside the compiled
step, every backbone layer but batch norm trainable, the mixed-precision policy ``train.py`` would choose.
Random weights and photos: speed does not depend on them. Two epochs of ``--steps`` steps: the first holds the
compilation, the second is timed whole (its end waits for the last step's results, so asynchronous dispatch
cannot flatter the figure); the compile time is their difference.
"""

import argparse
import json
import sys
import time

import keras
import numpy as np

from skin_core.research import hardware
from skin_core.research.augmentation import LesionAugmentation, training_model
from skin_core.classes import CLASS_CODES
from skin_core.research.data import make_dataset
from skin_core.research.losses import WeightedCategoricalCrossentropy
from skin_core.metadata import METADATA_DIM
from skin_core.model import build_model, input_shape_of


class _EpochClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def training_speed(backbone: str, input_size, batch_size=32, steps=40, mixed_precision=None) -> dict:
    from skin_core.research.training import precision_policy

    policy = precision_policy(mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    height, width = input_shape_of(input_size)
    model = build_model(backbone, input_size=(height, width), weights=None, colour_constancy=True)
    trainer = training_model(model, LesionAugmentation(seed=0))
    trainer.compile(keras.optimizers.Adam(1e-4), WeightedCategoricalCrossentropy([1.0] * len(CLASS_CODES)),
                    jit_compile=True if keras.backend.backend() == "jax" else False)
    count = batch_size * steps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    data = make_dataset(images, np.zeros((count, METADATA_DIM), np.float32), np.arange(count) % len(CLASS_CODES),
                        batch_size=batch_size, training=True, seed=0)
    clock = _EpochClock()
    trainer.fit(data, epochs=2, callbacks=[clock], verbose=0)
    step_s = clock.seconds[1] / steps
    return {"backbone": backbone, "input_size": [height, width], "batch_size": batch_size, "policy": policy,
            "images_per_s": round(batch_size / step_s, 1), "step_ms": round(1000 * step_s, 2),
            "compile_s": round(clock.seconds[0] - clock.seconds[1], 1), "steps_timed": steps,
            "hardware": hardware.describe(), "date": time.strftime("%Y-%m-%d")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core train-bench", description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="MobileNetV2")
    parser.add_argument("--input-size", type=int, nargs="+", default=[224])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    size = (args.input_size * 2)[:2]
    print(json.dumps(training_speed(args.backbone, size, args.batch_size, args.steps,
                                    mixed_precision=args.mixed_precision)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
