"""Self-describing model bundles: a folder with everything needed to use and judge one trained model.

    <bundle>/model.keras     the Keras model (architecture + weights; loads in safe mode, no code runs)
    <bundle>/config.json     backbone, input size, preprocessing, classes, metadata vocabulary, age
                             normalisation, temperature, malignancy threshold, training arguments, wall time,
                             hardware, benchmark figures
    <bundle>/metrics.json    the evaluation report on the test split (and what it was measured on)
    <bundle>/split.csv       image_id, lesion_id, dx, split: the exact split the numbers come from
    <bundle>/history.csv     one row per training epoch

``weights/default.txt`` names the bundle the app and the command-line tools use when none is given.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import keras

from skin_core import paths

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "history.csv"
DEFAULT_FILE = "default.txt"


class BundleNotFoundError(FileNotFoundError):
    """No usable model bundle at the given name or path."""


@dataclass
class Bundle:
    path: Path
    config: dict
    metrics: dict

    @property
    def name(self) -> str:
        return self.path.name

    def load_model(self) -> keras.Model:
        # Importing the package registers the custom layers with Keras's serialisation.
        import skin_core.attention, skin_core.layers, skin_core.losses  # noqa: F401, E401

        return keras.saving.load_model(self.path / MODEL_FILE, compile=False, safe_mode=True)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def list_bundles(weights_dir=None) -> list[str]:
    weights_dir = Path(weights_dir or paths.weights_dir())
    if not weights_dir.is_dir():
        return []
    return sorted(p.name for p in weights_dir.iterdir() if (p / MODEL_FILE).is_file() and (p / CONFIG_FILE).is_file())


def default_bundle_name(weights_dir=None) -> str:
    weights_dir = Path(weights_dir or paths.weights_dir())
    named = weights_dir / DEFAULT_FILE
    if named.is_file():
        return named.read_text(encoding="utf-8").strip()
    bundles = list_bundles(weights_dir)
    if not bundles:
        raise BundleNotFoundError(f"No model bundle in {weights_dir}. Train one with train.py or copy one there.")
    return bundles[0]


def resolve(bundle=None, weights_dir=None) -> Path:
    """A bundle folder from None (the default), a bundle name in weights/ or a path."""
    weights_dir = Path(weights_dir or paths.weights_dir())
    if bundle is None:
        bundle = default_bundle_name(weights_dir)
    for candidate in (Path(bundle), weights_dir / str(bundle)):
        if (candidate / MODEL_FILE).is_file() and (candidate / CONFIG_FILE).is_file():
            return candidate
    raise BundleNotFoundError(f"No model bundle {bundle!r} (looked for {MODEL_FILE} and {CONFIG_FILE}).")


def open_bundle(bundle=None, weights_dir=None) -> Bundle:
    path = resolve(bundle, weights_dir)
    return Bundle(path, read_json(path / CONFIG_FILE), read_json(path / METRICS_FILE))


def save_model(model: keras.Model, folder: Path) -> None:
    """Write the model without its optimizer state (a third of the size, and nothing a user needs)."""
    inference_copy = keras.Model.from_config(model.get_config())
    inference_copy.set_weights(model.get_weights())
    inference_copy.save(Path(folder) / MODEL_FILE)


def update_config(path: Path, **fields) -> None:
    config = read_json(path / CONFIG_FILE)
    config.update(fields)
    write_json(path / CONFIG_FILE, config)
