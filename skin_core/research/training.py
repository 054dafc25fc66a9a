"""Training a model bundle with the paper's recipe (Nguyen et al., Sensors 2022).

Adam (lr 1e-3, epsilon 0.1), class-weighted cross-entropy, ReduceLROnPlateau (factor 0.2, min lr 1e-7),
early stopping on the validation loss with the best weights restored, batch size 32. The test split is used
once, after training, for the bundle's metrics report; temperature and malignancy threshold come from the
validation split. Augmentation runs inside the compiled training step (``skin_core.research.augmentation``), so on a GPU
the host only hands over uint8 batches.
"""

import contextlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.research import hardware
from skin_core.research.augmentation import LesionAugmentation, training_model
from skin_core.backbones import BackboneSpec, ResolvedWeights, get_backbone
from skin_core.bundle import AgeNormalisation, ModelConfig, OperatingPoint, TrainingRecord
from skin_core.calibration import apply_temperature, fit_temperature
from skin_core.classes import CLASS_CODES
from skin_core.research.data import SPLITS, labels_of, lesion_split, make_dataset, read_dataset
from skin_core.imaging import load_images
from skin_core.research.evaluate import add_validation, evaluate, frame_report, image_only_summary
from skin_core.research.losses import WeightedCategoricalCrossentropy, class_weights
from skin_core.metadata import MetadataEncoder
from skin_core.model import PREPROCESSING_LAYER, backbone_of, build_model, input_shape_of, set_backbone_trainable
from skin_core.research.model_card import ham10000_card
from skin_core.predictor import CalibratedModel, ModelRunner, Predictor
from skin_core.research.operating_point import choose_operating_point

CHECKPOINT_DIR = "checkpoint"


@dataclass
class TrainConfig:
    backbone: str = "MobileNetV3Small"
    data: str = field(default_factory=lambda: str(paths.ham10000_dir()))
    extra_train: tuple = ()  # HAM10000-format folders added whole to the training side (other cameras)
    out: str = "weights/mobilenetv3small"
    input_size: list | None = None  # [height, width]; None: the backbone's default
    head_epochs: int = 2  # stage 1: new head only, backbone frozen
    epochs: int = 30  # stage 2: fine-tuning (early stopping usually ends it sooner)
    batch_size: int = 32
    weights: str | None = "shared"  # None, "imagenet", "shared" (../shared/pretrained) or a file path
    metadata: bool = True
    soft_attention: bool = True
    weighted_loss: bool = True
    colour_constancy: bool = True  # Shades-of-Gray layer inside the model
    photometric: bool = True  # brightness / contrast / saturation / hue / gamma augmentation
    crop_area: tuple = (0.6, 1.0)  # random resized crops keep this share of the photo (1, 1: none)
    zoom_out: float = 1.0  # half the photos shrink to between this share of the frame's side and 1 (1: none)
    backbone_trainable: bool | str = True
    learning_rate: float | None = None  # stage 1; None: the backbone row's head_learning_rate
    fine_tune_learning_rate: float = 1e-4
    adam_epsilon: float | None = None  # None: the backbone row's
    lr_patience: int = 2
    early_stopping_patience: int = 5
    seed: int = 0
    split: str | None = None  # reuse another bundle's split.csv
    fractions: tuple = (0.70, 0.15, 0.15)
    target_sensitivity: float = 0.90
    sensitivity_confidence: float | None = 0.95  # the lower bound of validation sensitivity must reach it
    exposure_margin: bool = True  # the threshold also holds on the validation photos 15 % darker / paler
    mixed_precision: bool | None = None  # None: on when a GPU is present (bfloat16 where it supports it)
    xla: bool = False  # TensorFlow: compile the step with XLA (JAX always compiles it)
    devices: list | None = None  # data parallelism over these devices (TF: "/gpu:0"; JAX: "gpu:0")
    resume: bool = False
    max_steps_per_epoch: int | None = None
    time_budget_minutes: float | None = None  # stop after the epoch that passes it (a GPU lease, a night)
    init_from: str | None = None  # a bundle of the same architecture whose weights this run continues from
    research: bool = False  # a comparison run: never offered for diagnosis, whatever its recipe
    display_name: str = ""  # what a doctor reads in the model list; empty: the backbone's name


def intended_use(config: TrainConfig) -> str:
    """Only the full recipe (metadata, Soft-Attention, weighted loss) run for use can be offered to doctors;
    ablations and runs marked as research are compared, not used."""
    full_recipe = config.metadata and config.soft_attention and config.weighted_loss
    return "clinical" if full_recipe and not config.research else "research"


def distribution_strategy(devices=None):
    """Data parallelism over several devices.

    TensorFlow: MultiWorkerMirroredStrategy when TF_CONFIG names a cluster, MirroredStrategy for several local
    GPUs (or the given devices), otherwise the default strategy. JAX: ``keras.distribution.DataParallel`` over
    the given devices or every local GPU when there are several (set globally; returns None).
    """
    if keras.backend.backend() == "jax":
        if devices and len(devices) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=list(devices)))
        elif not devices and len(hardware.accelerators()) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel())  # every local GPU
        return None
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


@dataclass
class Run:
    """What one training run resolves once, before any data is read: where it writes, the backbone row
    and its weights, the input size."""

    config: TrainConfig
    out: Path
    spec: BackboneSpec
    weights: ResolvedWeights
    input_size: tuple
    started: float = field(default_factory=time.time)

    @property
    def checkpoints(self) -> Path:
        return self.out / CHECKPOINT_DIR

    def out_of_time(self) -> bool:
        budget = self.config.time_budget_minutes
        return budget is not None and time.time() - self.started > 60 * budget


@dataclass
class Splits:
    """The labelled frame with its split column and, per split: rows, decoded images, metadata, labels."""

    frame: pd.DataFrame
    parts: dict
    encoder: MetadataEncoder
    images: dict
    metadata: dict  # None per split for an image-only model
    labels: dict


@dataclass
class Calibration:
    """The temperature fitted on validation and the raw (temperature 1) validation and test outputs
    (``predictor.Outputs``) it comes from."""

    temperature: float
    raw: dict

    def calibrated(self, part: str) -> np.ndarray:
        return apply_temperature(self.raw[part].probabilities, self.temperature)


def start_run(config: TrainConfig) -> Run:
    """Check the output folder and resolve the backbone and its weights; nothing is written yet.

    A finished bundle is never overwritten; a folder with an interrupted run continues only with ``resume``.
    """
    out = Path(config.out)
    if bundles.is_bundle(out):
        raise FileExistsError(f"{out} already holds a finished bundle, which is never overwritten; "
                              f"choose another --out.")
    if (out / CHECKPOINT_DIR).exists() and not config.resume:
        raise FileExistsError(f"{out} holds an interrupted run; pass --resume to continue it or choose another --out.")
    spec = get_backbone(config.backbone)
    input_size = input_shape_of(config.input_size or spec.input_size)
    config = replace(config, learning_rate=config.learning_rate or spec.head_learning_rate,
                     adam_epsilon=config.adam_epsilon or spec.adam_epsilon)  # recorded as used
    return Run(config, out, spec, spec.resolve_weights(config.weights), input_size)


def load_splits(run: Run) -> Splits:
    """Read and decode the data (a bad file stops the run before anything is written), then write the
    split: the resumed run's, a given split.csv, or a new seeded lesion-grouped one."""
    config = run.config
    frame = read_dataset(config.data)
    resumed = run.out / bundles.SPLIT_FILE
    source = resumed if config.resume and resumed.is_file() else config.split
    if source:
        saved = pd.read_csv(source, dtype={"image_id": str})
        frame = frame.merge(saved[["image_id", "split"]], on="image_id", how="inner")
    else:
        frame = frame.assign(split=lesion_split(frame, config.fractions, config.seed))
    parts = {name: frame[frame["split"] == name].reset_index(drop=True) for name in SPLITS}
    if config.extra_train:  # other cameras train only: validation and test stay HAM10000's lesion split
        extra = [read_dataset(folder) for folder in config.extra_train]
        parts["train"] = pd.concat([parts["train"], *extra], ignore_index=True)
        print(f"Training on {len(parts['train'])} photos, {sum(map(len, extra))} of them from "
              f"{', '.join(Path(folder).name for folder in config.extra_train)}.", flush=True)
    encoder = MetadataEncoder.fit(parts["train"]["age"])
    print(f"Decoding {sum(map(len, parts.values()))} images at {run.input_size[0]}x{run.input_size[1]} ...", flush=True)
    splits = Splits(
        frame, parts, encoder,
        images={name: load_images(part["path"], run.input_size) for name, part in parts.items()},
        metadata={name: encoder.encode_frame(part) if config.metadata else None for name, part in parts.items()},
        labels={name: labels_of(part) for name, part in parts.items()})
    run.out.mkdir(parents=True, exist_ok=True)
    frame[["image_id", "lesion_id", "dx", "split"]].to_csv(run.out / bundles.SPLIT_FILE, index=False)
    return splits


def fit_stages(run: Run, splits: Splits) -> keras.Model:
    """Build the model and train it in two stages, checkpointing every epoch.

    Stage 1 trains the new head on the frozen backbone, so that its random start cannot wreck the
    pretrained features; stage 2 fine-tunes the backbone (batch norm frozen) at a lower learning rate.
    """
    config = run.config
    strategy = distribution_strategy(config.devices)

    def scope():  # a fresh context each time: a strategy scope cannot be entered twice
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    with scope():
        model = _build(run, backbone_trainable=False)
        if config.init_from and not config.resume:
            continue_from(model, config.init_from)
        trainer = training_model(model, LesionAugmentation(crop_area=config.crop_area, zoom_out=config.zoom_out,
                                                           photometric=config.photometric, seed=config.seed))
    loss = (WeightedCategoricalCrossentropy(class_weights(splits.labels["train"], len(CLASS_CODES)))
            if config.weighted_loss else keras.losses.CategoricalCrossentropy())
    train_data = make_dataset(splits.images["train"], splits.metadata["train"], splits.labels["train"],
                              batch_size=config.batch_size, training=True, seed=config.seed,
                              max_steps=config.max_steps_per_epoch)
    val_data = make_dataset(splits.images["val"], splits.metadata["val"], splits.labels["val"],
                            batch_size=config.batch_size)
    run.checkpoints.mkdir(exist_ok=True)
    if not config.resume:
        (run.out / bundles.HISTORY_FILE).unlink(missing_ok=True)
    stages = [("head", False, config.learning_rate, 0, config.head_epochs),
              ("finetune", config.backbone_trainable, config.fine_tune_learning_rate, config.head_epochs,
               config.head_epochs + config.epochs)]
    for stage, trainable, learning_rate, first_epoch, last_epoch in stages:
        if last_epoch <= first_epoch:
            continue
        finished = run.checkpoints / f"{stage}.finished.weights.h5"
        if finished.is_file():  # resumed run: this stage is already done
            trainer.load_weights(finished)
            continue
        if run.out_of_time() and _epochs_logged(run.out):  # a budget never leaves the model untrained
            print(f"Stage {stage} skipped: the time budget is spent.", flush=True)
            continue
        with scope():
            set_backbone_trainable(backbone_of(model), trainable)
            trainer.compile(optimizer=keras.optimizers.Adam(learning_rate, epsilon=config.adam_epsilon), loss=loss,
                            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=_jit(config))
        best = run.checkpoints / f"{stage}.best.weights.h5"
        print(f"Stage {stage}: epochs {first_epoch + 1}-{last_epoch}, learning rate {learning_rate:g}", flush=True)
        trainer.fit(train_data, validation_data=val_data, initial_epoch=first_epoch, epochs=last_epoch,
                    callbacks=_callbacks(run, stage, best, first_epoch),
                    verbose=1 if sys.stdout.isatty() else 2)  # bars on a terminal
        if best.is_file():  # the best epoch, also across an interrupted and resumed run
            trainer.load_weights(best)
        trainer.save_weights(finished)
    return model


def continue_from(model: keras.Model, bundle_name: str) -> None:
    """Start from another bundle's trained weights (e.g. a short GPU run continued on a CPU); its architecture
    must be this run's, which the weight shapes check."""
    source = bundles.open_bundle(bundle_name)
    weights = source.load_model().get_weights()
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in weights] != expected:
        raise ValueError(f"Bundle {source.name!r} ({source.config.backbone}, input {list(source.config.input_size)}) "
                         f"does not have this run's architecture; --init-from needs the same backbone, input size "
                         f"and branches.")
    model.set_weights(weights)
    print(f"Continuing from the weights of bundle {source.name!r}.", flush=True)


def _build(run: Run, backbone_trainable) -> keras.Model:
    config = run.config
    return build_model(run.spec, input_size=run.input_size, weights=run.weights, metadata=config.metadata,
                       soft_attention=config.soft_attention, colour_constancy=config.colour_constancy,
                       backbone_trainable=backbone_trainable, seed=config.seed)


def _jit(config: TrainConfig):
    """JAX (and PyTorch) compile where they can; TensorFlow uses XLA only when asked (slower on CPU)."""
    if keras.backend.backend() == "tensorflow":
        return bool(config.xla)
    return True if config.xla else "auto"


def precision_policy(mixed_precision: bool | None) -> str:
    """float32, or mixed precision: bfloat16 where the GPU computes it natively (no loss scaling), else float16.
    ``None`` switches mixed precision on when the backend sees a GPU."""
    if mixed_precision is None:
        mixed_precision = bool(hardware.accelerators())
    if not mixed_precision:
        return "float32"
    return "mixed_bfloat16" if hardware.supports_bfloat16() else "mixed_float16"


def float32_model(run: Run, model: keras.Model) -> keras.Model:
    """The trained model with a float32 policy, for calibration and the bundle: a bundle saved under a
    mixed-precision policy would run in half precision on a clinic's CPU too."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers if layer.weights):
        return model
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = _build(run, backbone_trainable=False)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def _callbacks(run: Run, stage: str, best: Path, first_epoch: int) -> list:
    config = run.config
    return [
        keras.callbacks.BackupAndRestore(str(run.checkpoints / f"{stage}-backup")),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=_best_logged(run.out, first_epoch)),
        keras.callbacks.CSVLogger(str(run.out / bundles.HISTORY_FILE), append=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=config.lr_patience,
                                          min_lr=1e-7, verbose=1),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience,
                                      restore_best_weights=True, verbose=1),
        TimeBudget(run),
    ]


class TimeBudget(keras.callbacks.Callback):
    """Ends training after the epoch that spends the run's time budget (the best epoch is still restored)."""

    def __init__(self, run: "Run"):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        if self.run.out_of_time():
            print(f"Time budget of {self.run.config.time_budget_minutes:g} min spent: stopping.", flush=True)
            self.model.stop_training = True


def calibrate(runner: ModelRunner, splits: Splits) -> Calibration:
    """One pass over validation and test; the temperature is fitted on validation only."""
    raw = {name: runner.run(splits.images[name], splits.metadata[name]) for name in ("val", "test")}
    return Calibration(fit_temperature(raw["val"].probabilities, splits.labels["val"]), raw)


def make_bundle_config(run: Run, model: keras.Model, splits: Splits, calibration: Calibration, threshold: float,
                       operating_point: OperatingPoint, train_seconds: float) -> ModelConfig:
    """The bundle's config from final values only: the fitted temperature and the chosen threshold."""
    config = run.config
    return ModelConfig(
        name=run.out.name,
        version=time.strftime("%Y-%m-%d"),
        backbone=run.spec.name,
        input_size=run.input_size,
        preprocessing=model.get_layer(PREPROCESSING_LAYER).mode,
        metadata=config.metadata,
        soft_attention=config.soft_attention,
        weighted_loss=config.weighted_loss,
        colour_constancy=config.colour_constancy,
        age_normalisation=AgeNormalisation(splits.encoder.age_mean, splits.encoder.age_std),
        temperature=calibration.temperature,
        malignancy_threshold=threshold,
        operating_point=operating_point,
        model_card=ham10000_card(config.extra_train),
        intended_use=intended_use(config),
        display_name=config.display_name or run.spec.name,
        training=TrainingRecord(arguments=recorded_arguments(config), epochs_run=_epochs_logged(run.out),
                                wall_time_s=round(train_seconds, 1), total_wall_time_s=round(train_seconds, 1),
                                hardware=hardware.describe()),
        parameters=int(model.count_params()),
        class_weights=dict(zip(CLASS_CODES, map(float, class_weights(splits.labels["train"], len(CLASS_CODES))))),
        pretrained_weights=run.weights.describe(),
    )


def bundle_metrics(run: Run, predictor: Predictor, splits: Splits, calibration: Calibration) -> dict:
    """The bundle's metrics: the test report, with the validation and image-only figures beside it."""
    raw_test, test_heads = calibration.raw["test"].probabilities, calibration.raw["test"].heads
    masks = Path(run.config.data) / "masks"
    report = frame_report(splits.parts["test"], calibration.calibrated("test"), predictor.threshold, test_heads,
                          masks if masks.is_dir() else None)
    report = add_validation(report, run.config.data, splits.labels["val"], calibration.raw["val"].probabilities,
                            splits.labels["test"], raw_test, calibration.temperature, predictor.threshold)
    if run.config.metadata:
        report["image_only"] = image_only_summary(
            evaluate(predictor, splits.parts["test"], splits.images["test"], ignore_metadata=True))
    return report


def train(config: TrainConfig) -> Path:
    """Train, calibrate and evaluate one model; returns the bundle folder."""
    run = start_run(config)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(precision_policy(config.mixed_precision))
    splits = load_splits(run)
    model = float32_model(run, fit_stages(run, splits))
    train_seconds = time.time() - run.started

    runner = ModelRunner(model)
    calibration = calibrate(runner, splits)
    calibrated = CalibratedModel(runner, run.input_size, splits.encoder, calibration.temperature)
    threshold, point = choose_operating_point(calibrated, splits.parts["val"], calibration.calibrated("val"),
                                              config.target_sensitivity, config.sensitivity_confidence,
                                              config.exposure_margin)
    bundle_config = make_bundle_config(run, model, splits, calibration, threshold, point, train_seconds)
    predictor = Predictor(calibrated, bundle_config)
    metrics = bundle_metrics(run, predictor, splits, calibration)
    total = replace(bundle_config.training, total_wall_time_s=round(time.time() - run.started, 1))
    bundles.save_model(model, run.out)
    bundles.write_config(run.out, replace(bundle_config, training=total))
    bundles.write_json(run.out / bundles.METRICS_FILE, metrics)
    shutil.rmtree(run.checkpoints, ignore_errors=True)
    print(json.dumps({k: metrics[k] for k in ("balanced_accuracy", "macro_auc", "accuracy", "ece")}), flush=True)
    return run.out


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


def recorded_arguments(config: TrainConfig) -> dict:
    """The run's settings as the bundle records them, with its folders and files named the same on every
    machine (paths.recorded)."""
    arguments = asdict(config)
    arguments["out"] = Path(config.out).name
    arguments["data"] = paths.recorded(config.data)
    arguments["extra_train"] = [paths.recorded(folder) for folder in config.extra_train]
    if config.split:
        arguments["split"] = paths.recorded(config.split)
    if config.init_from:  # a bundle is named by its folder
        arguments["init_from"] = Path(config.init_from).name
    if config.weights and Path(config.weights).is_file():  # an ImageNet file given by path
        arguments["weights"] = paths.recorded(config.weights)
    return json.loads(json.dumps(arguments, default=str))
