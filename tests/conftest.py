"""Shared fixtures: a tiny generated HAM10000-format dataset, and access to ../shared.

Tests that need the real dataset or the pretrained files skip with a reason when ../shared is absent;
with SKIN_REQUIRE_SHARED=1 (set by .ci/run) they fail instead, so CI cannot silently skip them.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# the app runs in its demo mode (no case history) unless a test sets a database; a developer's own
# .streamlit/secrets.toml is not read (an empty value turns history off)
os.environ["SKIN_CASES_DATABASE"] = ""

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from skin_core import paths  # noqa: E402
from skin_core.classes import CLASS_CODES  # noqa: E402

SITES = ("back", "face", "lower extremity", "trunk", "unknown")


# The fields every evaluation report carries (README: "Evaluating and benchmarking").
REPORT_FIELDS = ("n", "accuracy", "balanced_accuracy", "macro_auc", "macro_f1", "per_class", "confusion_matrix",
                 "malignant", "ece", "roc")


def require_shared(relative: str) -> Path:
    """The path under ../shared, or skip (fail under SKIN_REQUIRE_SHARED=1) when it is absent."""
    path = paths.shared_dir() / relative
    if not path.exists():
        message = f"needs {path} (the shared HAM10000 data / pretrained weights), which is absent"
        if os.environ.get("SKIN_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_tiny_dataset(folder: Path, lesions_per_class=3, images_per_lesion=2, size=(48, 64), seed=0) -> Path:
    """A HAM10000-format folder whose classes differ in colour, so that one epoch already learns a little."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rows = []
    for class_index, code in enumerate(CLASS_CODES):
        colour = np.array([40 + 30 * class_index, 200 - 25 * class_index, 90 + 20 * (class_index % 3)])
        for lesion in range(lesions_per_class):
            lesion_id = f"L_{code}_{lesion}"
            for shot in range(images_per_lesion):
                image_id = f"IMG_{code}_{lesion}_{shot}"
                pixels = np.clip(colour + rng.normal(0, 12, (*size, 3)), 0, 255).astype(np.uint8)
                mask = np.zeros(size, np.uint8)
                mask[size[0] // 4: 3 * size[0] // 4, size[1] // 4: 3 * size[1] // 4] = 255
                pixels[mask > 0] = np.clip(pixels[mask > 0].astype(int) - 60, 0, 255)
                Image.fromarray(pixels).save(folder / "images" / f"{image_id}.jpg")
                Image.fromarray(mask).save(folder / "masks" / f"{image_id}_segmentation.png")
                rows.append({"lesion_id": lesion_id, "image_id": image_id, "dx": code, "dx_type": "histo",
                             "age": float(rng.integers(20, 85)) if rng.random() > 0.2 else None,
                             "sex": rng.choice(["male", "female", "unknown"]),
                             "localization": rng.choice(SITES)})
    pd.DataFrame(rows).to_csv(folder / "HAM10000_metadata.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny_ham"))


def tiny_train_config(data, out, **overrides):
    from skin_core.research.training import TrainConfig

    settings = dict(backbone="MobileNetV3Small", data=str(data), out=str(out), input_size=[64, 64],
                    weights=None, head_epochs=1, epochs=1, batch_size=8, seed=0)
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture(scope="session")
def tiny_bundle(tiny_dataset, tmp_path_factory) -> Path:
    """A bundle trained for two short epochs on the tiny dataset (random backbone weights)."""
    from skin_core.research.training import train

    return train(tiny_train_config(tiny_dataset, tmp_path_factory.mktemp("bundles") / "tiny"))
