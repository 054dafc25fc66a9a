"""What a figure was measured on: one description shared by training records and benchmarks."""

import os
import platform

import keras


def accelerators() -> list[str]:
    """The GPUs the active Keras backend can use (empty on a CPU-only machine)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def supports_bfloat16() -> bool:
    """Whether the first GPU computes bfloat16 natively (NVIDIA Ampere, compute capability 8.0, or newer)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        capability = getattr(gpus[0], "compute_capability", "0") if gpus else "0"
        return float(capability) >= 8.0
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        return details.get("compute_capability", (0, 0))[0] >= 8
    if backend == "torch":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False


def describe() -> dict:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "gpus": accelerators(), "backend": keras.backend.backend(),
            "keras": keras.__version__, "python": platform.python_version()}
