"""Training a model bundle with the paper's recipe (Nguyen et al., Sensors 2022).

Adam (lr 1e-3, epsilon 0.1), class-weighted cross-entropy, ReduceLROnPlateau (factor 0.2, min lr 1e-7),
early stopping on the validation loss with the best weights restored, batch size 32. The test split is used
once, after training, for the bundle's metrics report; temperature and malignancy threshold come from the
validation split.
"""

import contextlib
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import pandas as pd

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.backbones import get_backbone
from skin_core.calibration import apply_temperature, expected_calibration_error, fit_temperature
from skin_core.classes import CLASS_CODES
from skin_core.data import SPLITS, labels_of, lesion_split, load_images, make_dataset, read_dataset
from skin_core.evaluate import evaluate, frame_report, predict_frame
from skin_core.losses import WeightedCategoricalCrossentropy, class_weights
from skin_core.metadata import SEXES, SITES, MetadataEncoder
from skin_core.metrics import evaluation_report, malignancy_threshold
from skin_core.model import backbone_of, build_model, input_shape_of, set_backbone_trainable
from skin_core.predictor import Predictor

CHECKPOINT_DIR = "checkpoint"


@dataclass
class TrainConfig:
    backbone: str = "MobileNetV3Small"
    data: str = field(default_factory=lambda: str(paths.ham10000_dir()))
    out: str = "weights/mobilenetv3small"
    input_size: list | None = None  # [height, width]; None: the backbone's default
    head_epochs: int = 2  # stage 1: new head only, backbone frozen
    epochs: int = 30  # stage 2: fine-tuning (early stopping usually ends it sooner)
    batch_size: int = 32
    weights: str | None = "shared"  # None, "imagenet", "shared" (../shared/pretrained) or a file path
    metadata: bool = True
    soft_attention: bool = True
    weighted_loss: bool = True
    backbone_trainable: bool | str = True
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    adam_epsilon: float = 0.1
    lr_patience: int = 2
    early_stopping_patience: int = 5
    seed: int = 0
    split: str | None = None  # reuse another bundle's split.csv
    fractions: tuple = (0.70, 0.15, 0.15)
    target_sensitivity: float = 0.90
    mixed_precision: bool | None = None  # None: on when a GPU is present
    xla: bool = False
    devices: list | None = None  # MirroredStrategy over these devices (e.g. ["/cpu:0", "/cpu:1"])
    resume: bool = False
    max_steps_per_epoch: int | None = None


def resolve_weights(backbone: str, weights):
    if weights != "shared":
        return weights
    path = get_backbone(backbone).shared_weights_path()
    if path is None:
        raise FileNotFoundError(f"No local ImageNet weights are registered for {backbone}; use --weights imagenet.")
    if not path.is_file():
        raise FileNotFoundError(f"Local ImageNet weights not found at {path} (set SKIN_SHARED_DIR).")
    return str(path)


def distribution_strategy(devices=None):
    """MultiWorkerMirroredStrategy when TF_CONFIG names a cluster, MirroredStrategy for several local GPUs
    (or the given devices), otherwise the default strategy. Only the TensorFlow backend distributes."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices:
        return tf.distribute.MirroredStrategy(devices=list(devices))
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def hardware() -> dict:
    gpus = []
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "gpus": gpus, "backend": keras.backend.backend(),
            "keras": keras.__version__, "python": platform.python_version()}


def prepare_split(config: TrainConfig, frame: pd.DataFrame, out: Path) -> pd.DataFrame:
    """The split: the resumed run's, a given split.csv, or a new seeded lesion-grouped split."""
    source = out / bundles.SPLIT_FILE if config.resume and (out / bundles.SPLIT_FILE).is_file() else config.split
    if source:
        saved = pd.read_csv(source, dtype={"image_id": str})
        frame = frame.merge(saved[["image_id", "split"]], on="image_id", how="inner")
    else:
        frame = frame.assign(split=lesion_split(frame, config.fractions, config.seed))
    frame[["image_id", "lesion_id", "dx", "split"]].to_csv(out / bundles.SPLIT_FILE, index=False)
    return frame


def train(config: TrainConfig) -> Path:
    """Train, calibrate and evaluate one model; returns the bundle folder."""
    started = time.time()
    out = Path(config.out)
    checkpoints = out / CHECKPOINT_DIR
    if checkpoints.exists() and not config.resume:
        raise FileExistsError(f"{out} holds an interrupted run; pass --resume to continue it or choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    spec = get_backbone(config.backbone)
    input_size = input_shape_of(config.input_size or spec.input_size)
    weights = resolve_weights(config.backbone, config.weights)
    mixed = config.mixed_precision
    if mixed is None:
        mixed = bool(hardware()["gpus"])
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")

    frame = prepare_split(config, read_dataset(config.data), out)
    parts = {name: frame[frame["split"] == name].reset_index(drop=True) for name in SPLITS}
    encoder = MetadataEncoder.fit(parts["train"]["age"])
    print(f"Decoding {len(frame)} images at {input_size[0]}x{input_size[1]} ...", flush=True)
    images = {name: load_images(part["path"], input_size) for name, part in parts.items()}
    meta = {name: encoder.encode_frame(part) if config.metadata else None for name, part in parts.items()}
    labels = {name: labels_of(part) for name, part in parts.items()}
    weights_c = class_weights(labels["train"], len(CLASS_CODES))

    strategy = distribution_strategy(config.devices)
    def scope():  # a fresh context each time: a strategy scope cannot be entered twice
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    with scope():
        model = build_model(config.backbone, input_size=input_size, weights=weights, metadata=config.metadata,
                            soft_attention=config.soft_attention, backbone_trainable=False, seed=config.seed)
    loss = WeightedCategoricalCrossentropy(weights_c) if config.weighted_loss else None

    train_data = make_dataset(images["train"], meta["train"], labels["train"], batch_size=config.batch_size,
                              training=True, seed=config.seed)
    val_data = make_dataset(images["val"], meta["val"], labels["val"], batch_size=config.batch_size)
    if config.max_steps_per_epoch:
        train_data = train_data.take(config.max_steps_per_epoch)
    checkpoints.mkdir(exist_ok=True)
    if not config.resume:
        (out / bundles.HISTORY_FILE).unlink(missing_ok=True)
    # Stage 1 trains the new head on the frozen backbone, so that its random start cannot wreck the
    # pretrained features; stage 2 fine-tunes the backbone (batch norm frozen) at a lower learning rate.
    stages = [("head", False, config.learning_rate, 0, config.head_epochs),
              ("finetune", config.backbone_trainable, config.fine_tune_learning_rate, config.head_epochs,
               config.head_epochs + config.epochs)]
    for stage, trainable, learning_rate, first_epoch, last_epoch in stages:
        if last_epoch <= first_epoch:
            continue
        finished = checkpoints / f"{stage}.finished.weights.h5"
        if finished.is_file():  # resumed run: this stage is already done
            model.load_weights(finished)
            continue
        with scope():
            set_backbone_trainable(backbone_of(model), trainable)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate, epsilon=config.adam_epsilon),
                          loss=loss or keras.losses.CategoricalCrossentropy(),
                          metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=config.xla)
        best = checkpoints / f"{stage}.best.weights.h5"
        callbacks = [
            keras.callbacks.BackupAndRestore(str(checkpoints / f"{stage}-backup")),
            keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True,
                                            save_weights_only=True,
                                            initial_value_threshold=_best_logged(out, first_epoch)),
            keras.callbacks.CSVLogger(str(out / bundles.HISTORY_FILE), append=True),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=config.lr_patience,
                                              min_lr=1e-7, verbose=1),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience,
                                          restore_best_weights=True, verbose=1),
        ]
        print(f"Stage {stage}: epochs {first_epoch + 1}-{last_epoch}, learning rate {learning_rate:g}", flush=True)
        model.fit(train_data, validation_data=val_data, initial_epoch=first_epoch, epochs=last_epoch,
                  callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)  # bars on a terminal
        if best.is_file():  # the best epoch, also across an interrupted and resumed run
            model.load_weights(best)
        model.save_weights(finished)
    train_seconds = time.time() - started

    bundle_config = {
        "name": out.name,
        "version": time.strftime("%Y-%m-%d"),
        "backbone": config.backbone,
        "input_size": list(input_size),
        "preprocessing": model.get_layer("preprocessing").mode,
        "class_codes": list(CLASS_CODES),
        "metadata": config.metadata,
        "soft_attention": config.soft_attention,
        "weighted_loss": config.weighted_loss,
        "metadata_vocabulary": {"sex": list(SEXES), "site": list(SITES)},
        "age_normalisation": {"mean": encoder.age_mean, "std": encoder.age_std},
        "class_weights": dict(zip(CLASS_CODES, map(float, weights_c))),
        "temperature": 1.0,
        "malignancy_threshold": 0.5,
        "low_confidence": {"min_top_probability": 0.5, "min_margin": 0.15},
        "pretrained_weights": Path(weights).name if weights else None,
        "parameters": int(model.count_params()),
        "training": {"arguments": _jsonable(asdict(config)), "epochs_run": _epochs_logged(out),
                     "wall_time_s": round(train_seconds, 1), "hardware": hardware()},
    }
    # One pass over validation and test at temperature 1; calibration is then applied to those probabilities.
    uncalibrated = Predictor(model, bundle_config, out.name)
    raw_val, _ = predict_frame(uncalibrated, parts["val"], images["val"])
    raw_test, test_heads = predict_frame(uncalibrated, parts["test"], images["test"])
    temperature = fit_temperature(raw_val, labels["val"])
    calibrated_val = apply_temperature(raw_val, temperature)
    bundle_config["temperature"] = temperature
    bundle_config["malignancy_threshold"] = threshold = malignancy_threshold(calibrated_val, labels["val"],
                                                                             config.target_sensitivity)
    predictor = Predictor(model, bundle_config, out.name)

    masks = Path(config.data) / "masks"
    test = frame_report(parts["test"], apply_temperature(raw_test, temperature), threshold, test_heads,
                        masks if masks.is_dir() else None)
    val = evaluation_report(labels["val"], calibrated_val, threshold)
    metrics = {
        **test,
        "split": "test",
        "data": str(config.data),
        "ece_before_calibration": expected_calibration_error(raw_test, labels["test"]),
        "validation": {"balanced_accuracy": val["balanced_accuracy"], "macro_auc": val["macro_auc"],
                       "ece_before_calibration": expected_calibration_error(raw_val, labels["val"]),
                       "ece": val["ece"], "n": val["n"]},
    }
    if config.metadata:
        image_only = evaluate(predictor, parts["test"], images["test"], ignore_metadata=True)
        metrics["image_only"] = {key: image_only[key] for key in
                                 ("balanced_accuracy", "accuracy", "macro_auc", "macro_f1", "ece")}
        metrics["image_only"]["per_class_recall"] = {c: v["recall"] for c, v in image_only["per_class"].items()}
    bundle_config["training"]["total_wall_time_s"] = round(time.time() - started, 1)
    bundles.save_model(model, out)
    bundles.write_json(out / bundles.CONFIG_FILE, bundle_config)
    bundles.write_json(out / bundles.METRICS_FILE, metrics)
    shutil.rmtree(checkpoints, ignore_errors=True)
    print(json.dumps({k: metrics[k] for k in ("balanced_accuracy", "macro_auc", "accuracy", "ece")}), flush=True)
    return out


def _best_logged(out: Path, first_epoch: int) -> float | None:
    """The lowest validation loss this stage logged before an interruption (so a resumed run keeps it)."""
    history = out / bundles.HISTORY_FILE
    if not history.is_file():
        return None
    logged = pd.read_csv(history)
    stage = logged[logged["epoch"] >= first_epoch]
    return float(stage["val_loss"].min()) if len(stage) else None


def _epochs_logged(out: Path) -> int:
    history = out / bundles.HISTORY_FILE
    return len(pd.read_csv(history)) if history.is_file() else 0


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
