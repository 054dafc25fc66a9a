"""The Predictor: one photo and optional metadata in, calibrated ranked diagnoses and attention out.

    from skin_core import load_predictor
    predictor = load_predictor()                 # the default bundle in weights/
    result = predictor.predict("lesion.jpg", age=54, sex="male", site="back")
    result.ranked      # [(code, probability), ...], sorted, calibrated, sums to 1
    result.attention   # float32 (H, W) in [0, 1], the photo's size (at most imaging.DISPLAY_SIDE on its longest side)
    result.gate        # the input gate's decision: is this a usable dermoscopic photo? (None without a gate)
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import keras
import numpy as np

from skin_core import imaging
from skin_core.attention import relative_maps
from skin_core.bundle import Bundle, BundleConfig, open_bundle, open_members
from skin_core.calibration import apply_temperature
from skin_core.gate import GateDecision, InputGate
from skin_core.classes import CLASS_CODES, MALIGNANT_CODES, malignant_scores
from skin_core.framing import Framing, framed, placed
from skin_core.metadata import MetadataEncoder
from skin_core.model import COLOUR_CONSTANCY_LAYER, IMAGE_INPUT, METADATA_INPUT, explain_model

# The baseline of the attention overlay (``relative_maps``) is the heads for a featureless photo of the photo's
# mean colour. A model with a colour-constancy layer turns every such photo grey at the colour's mean brightness,
# so its baselines are one per brightness, rounded to BASELINE_GREY_STEP; other models' are per colour, each
# channel rounded to BASELINE_STEP. Each model keeps the last BASELINE_CACHE_SIZE, so that most photos need no
# second forward pass. A relative head whose spread is under BASELINE_FLAT_BELOW of its mean is drawn flat: the
# rounding leaves up to ~0.05 on a plain photo for the default bundle, ~0.3 for mobilenetv2, while on HAM10000
# photos a head spreads 0.3 or more (0.6 or more for 95 % of them).
BASELINE_GREY_STEP = 4
BASELINE_STEP = 16
BASELINE_CACHE_SIZE = 512
BASELINE_FLAT_BELOW = 0.35


@dataclass
class Prediction:
    ranked: list  # [(class_code, probability)], most probable first
    attention: np.ndarray | None  # (H, W) float32 in [0, 1] at the decoded photo's size; None without SA
    attention_heads: np.ndarray | None  # (K, h, w) per-head maps at the feature-map resolution (relative_maps)
    malignant_probability: float
    malignancy_threshold: float
    low_confidence: bool
    probabilities: dict = field(default_factory=dict)
    gate: GateDecision | None = None
    threshold_source: str = "model"  # "clinic": the clinic's own threshold for this model version replaced it

    @property
    def top(self) -> tuple:
        return self.ranked[0]

    @property
    def malignancy_alert(self) -> bool:
        return self.malignant_probability >= self.malignancy_threshold

    @property
    def triage_withheld(self) -> bool:
        """The input check flagged the photo and it was analysed anyway: the alert threshold and its advice
        (refer, biopsy, follow-up) were validated on dermoscopic photos only, so none is given for it."""
        return self.gate is not None and self.gate.flagged

    @property
    def alert_disagrees_with_top(self) -> bool:
        """The malignant classes together cross the threshold while the most likely class is benign, or the
        most likely class is malignant while their sum stays below it: a reader needs to be told why."""
        return self.malignancy_alert != (self.top[0] in MALIGNANT_CODES)


class Outputs(NamedTuple):
    """What one forward pass gives per image."""

    probabilities: np.ndarray  # (N, 7)
    features: np.ndarray  # (N, d) pooled backbone features, for the input gate
    heads: np.ndarray | None  # (N, h, w, K) per-head attention maps; None without Soft-Attention


class ModelRunner:
    """The compiled forward pass of a model built by ``build_model``: batches, optional flip averaging,
    uncalibrated probabilities, backbone features and per-head attention maps."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.uses_metadata = METADATA_INPUT in {t.name for t in model.inputs}
        explain = explain_model(model)
        self.feature_dimension = int(explain.outputs[1].shape[-1])
        self._infer = _compiled(explain)
        self.colour_constancy = any(layer.name == COLOUR_CONSTANCY_LAYER for layer in model.layers)
        self._baselines = OrderedDict()  # (colour, size, tta) -> (1, h, w, K) heads, least recently used first
        self._baselines_lock = threading.Lock()
        self.baseline_hits = self.baseline_misses = 0

    def baseline_colour(self, mean) -> tuple:
        """The colour whose featureless photo stands for every photo of mean colour ``mean`` (RGB, 0-255): with a
        colour-constancy layer, grey at the mean brightness (channels that are black stay black: the layer keeps
        them so), else the colour; rounded as the cache keys are."""
        mean = np.asarray(mean, np.float64)
        if self.colour_constancy:
            level = np.round(mean.mean() / BASELINE_GREY_STEP) * BASELINE_GREY_STEP
            colour = np.where(mean >= 0.5, level, 0.0)
        else:
            colour = np.round(mean / BASELINE_STEP) * BASELINE_STEP
        return tuple(int(v) for v in np.clip(colour, 0, 255))

    def baseline_heads(self, colour: tuple, size: tuple, metadata: np.ndarray | None,
                       tta: bool = False) -> np.ndarray:
        """The (1, h, w, K) heads for a featureless photo of one RGB ``colour`` (integers) of ``size`` (height,
        width), from the cache when asked for before; the cache keeps the last BASELINE_CACHE_SIZE. ``metadata``
        (one row: unknown) only feeds the model; the heads do not depend on it. Safe to call from several
        threads (two that miss at once both run the model, and get the same answer)."""
        key = (tuple(int(v) for v in colour), tuple(int(v) for v in size), bool(tta))
        with self._baselines_lock:
            heads = self._baselines.get(key)
            if heads is not None:
                self._baselines.move_to_end(key)
                self.baseline_hits += 1
                return heads
        height, width = key[1]
        plain = np.empty((1, height, width, 3), np.float32)
        plain[...] = np.asarray(key[0], np.float32)
        heads = self.run(plain, metadata, tta=tta).heads
        heads.setflags(write=False)
        with self._baselines_lock:
            self.baseline_misses += 1
            self._baselines[key] = heads
            while len(self._baselines) > BASELINE_CACHE_SIZE:
                self._baselines.popitem(last=False)
        return heads

    @property
    def baseline_cache_size(self) -> int:
        return len(self._baselines)

    def run(self, images: np.ndarray, metadata: np.ndarray | None, tta: bool = False, batch_size: int = 32) -> Outputs:
        """Outputs at temperature 1 for resized images. With ``tta`` the four flips of each image are
        averaged (attention maps flipped back first). ``metadata`` (N, METADATA_DIM) may be None only for an
        image-only model."""
        if metadata is None and self.uses_metadata:
            raise ValueError("This model takes patient metadata; pass the encoded rows (unknown where empty).")
        batches = []
        for start in range(0, len(images), batch_size):
            rows = None if metadata is None else metadata[start:start + batch_size]
            batches.append(self._forward(images[start:start + batch_size], rows, tta))
        heads = None if batches[0].heads is None else np.concatenate([b.heads for b in batches])
        return Outputs(np.concatenate([b.probabilities for b in batches]),
                       np.concatenate([b.features for b in batches]), heads)

    def _forward(self, images, metadata, tta) -> Outputs:
        flips = [(False, False), (True, False), (False, True), (True, True)] if tta else [(False, False)]
        views = [_flip(images, horizontal, vertical) for horizontal, vertical in flips]
        count = len(images)
        batch = {IMAGE_INPUT: np.concatenate(views).astype(np.float32)}
        if self.uses_metadata:
            batch[METADATA_INPUT] = np.concatenate([metadata] * len(flips)).astype(np.float32)
        outputs = self._infer(batch)
        probabilities, features = (np.asarray(o).reshape(len(flips), count, -1).mean(axis=0) for o in outputs[:2])
        if len(outputs) == 2:
            return Outputs(probabilities, features, None)
        heads = np.asarray(outputs[2], dtype=np.float32)
        heads = heads.reshape(len(flips), count, *heads.shape[1:])
        heads = np.mean([_flip(heads[i], *flip) for i, flip in enumerate(flips)], axis=0)
        return Outputs(probabilities, features, heads)


class CalibratedModel:
    """A trained model and what turns photos into its calibrated probabilities: input size, metadata encoding,
    framing and temperature. A malignancy threshold is chosen from these alone; a ``Predictor`` adds the
    threshold, the input gate and the ranking, and is built once all of them are final."""

    def __init__(self, runner: ModelRunner, input_size, encoder: MetadataEncoder, temperature: float,
                 framing: Framing | None = None):
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.runner, self.input_size, self.encoder = runner, tuple(input_size), encoder
        self.temperature, self.framing = float(temperature), framing

    @classmethod
    def of(cls, runner: ModelRunner, config: BundleConfig) -> "CalibratedModel":
        age = config.age_normalisation
        return cls(runner, config.input_size, MetadataEncoder(age.mean, age.std), config.temperature, config.framing)

    @property
    def model(self) -> keras.Model:
        return self.runner.model

    @property
    def uses_metadata(self) -> bool:
        return self.runner.uses_metadata

    def photo_outputs(self, photo: np.ndarray, details: tuple, tta: bool = False) -> tuple[Outputs, np.ndarray]:
        """Calibrated outputs for one decoded photo and its (age, sex, site), framed as the bundle frames photos,
        with the photo at the input size."""
        return self.view_outputs(framed(photo, self.framing)[0], details, tta)

    def view_outputs(self, view: np.ndarray, details: tuple, tta: bool = False) -> tuple[Outputs, np.ndarray]:
        """``photo_outputs`` for a photo already framed: what the model sees, at any size."""
        resized = imaging.resize(view, self.input_size)[None]
        return self.predict_arrays(resized, self.encoder.encode(*details)[None], tta=tta), resized

    def frame_outputs(self, frame, images=None, ignore_metadata=False, tta=False) -> tuple[Outputs, np.ndarray]:
        """Calibrated outputs for ``read_dataset`` rows (their metadata, or unknown with ``ignore_metadata``),
        with the photos at the input size; ``images`` may hold them already decoded, framed and resized."""
        if images is None:
            images = self.load_images(frame["path"])
        if ignore_metadata:
            metadata = np.repeat(self.encoder.encode()[None], len(frame), axis=0)
        else:
            metadata = self.encoder.encode_frame(frame)
        return self.predict_arrays(images, metadata, tta=tta), images

    def load_images(self, paths, size: tuple[int, int] | None = None) -> np.ndarray:
        """Photos decoded, framed as the bundle frames them and resized (to the input size unless ``size``)."""
        return imaging.load_images(paths, size or self.input_size, framing=self.framing)

    def predict_arrays(self, images: np.ndarray, metadata: np.ndarray, tta: bool = False,
                       batch_size: int = 32) -> Outputs:
        """Calibrated outputs for photos already at the input size and metadata rows from ``self.encoder``."""
        outputs = self.runner.run(images, metadata, tta=tta, batch_size=batch_size)
        return outputs._replace(probabilities=apply_temperature(outputs.probabilities, self.temperature)
                                .astype(np.float32))


class CalibratedEnsemble(CalibratedModel):
    """The members' calibrated probabilities averaged, then calibrated again at the ensemble's own temperature
    (Guo et al. 2017; the members' mean is over-smooth). Each member sees the photo (framed as the ensemble
    frames photos) at its own input size with its own metadata encoding; the first member (the lead) gives the
    features the input gate reads and the attention heads."""

    def __init__(self, members: list, temperature: float, framing: Framing | None = None):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        lead = members[0]
        super().__init__(lead.runner, lead.input_size, lead.encoder, temperature, framing)
        self.members = list(members)

    def view_outputs(self, view, details, tta=False):
        results = [member.view_outputs(view, details, tta) for member in self.members]
        return self._combine([outputs for outputs, _ in results]), results[0][1]

    def frame_outputs(self, frame, images=None, ignore_metadata=False, tta=False):
        results = [member.frame_outputs(frame, images if index == 0 and images is not None
                                        else self.load_images(frame["path"], member.input_size), ignore_metadata, tta)
                   for index, member in enumerate(self.members)]
        return self._combine([outputs for outputs, _ in results]), results[0][1]

    def predict_arrays(self, images, metadata, tta=False, batch_size=32):
        """Photos at the lead's input size and metadata rows from the lead's encoder, as for a single model: a
        member with another input size gets them resized (``frame_outputs`` and ``photo_outputs`` resize from
        the photo itself instead), and each member reads the ages on its own scale."""
        return self._combine([member.predict_arrays(
            images if member.input_size == self.input_size else np.stack([imaging.resize(image, member.input_size)
                                                                          for image in images]),
            None if metadata is None else member.encoder.recoded(metadata, self.encoder), tta, batch_size)
            for member in self.members])

    def _combine(self, outputs: list) -> Outputs:
        mean = np.mean([o.probabilities for o in outputs], axis=0)
        return outputs[0]._replace(probabilities=apply_temperature(mean, self.temperature).astype(np.float32))


class Predictor:
    """A bundle's calibrated model with its config: the threshold, the low-confidence rule and the input gate.
    One interface for a single model and an ensemble (``calibrated`` is a CalibratedEnsemble then)."""

    def __init__(self, calibrated: CalibratedModel, config: BundleConfig, name: str = "",
                 gate: InputGate | None = None, release: str = ""):
        for what, used, configured in (("temperature", calibrated.temperature, config.temperature),
                                       ("input size", calibrated.input_size, tuple(config.input_size)),
                                       ("framing", calibrated.framing, config.framing)):
            if used != configured:
                raise ValueError(f"the calibrated model's {what} {used!r} differs from the config's {configured!r}; "
                                 f"build the config from the final values")
        self.calibrated, self.config = calibrated, config
        self.name = name or config.name
        self.gate = gate
        self.release = release  # Bundle.release: the version a saved case names (empty before it is a bundle)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "Predictor":
        """The bundle's Predictor. An ensemble's input gate is its own when it has one (fitted on the photos as the
        ensemble shows them to the lead), else the lead's."""
        if bundle.config.is_ensemble:
            members = [Predictor.from_bundle(member) for member in open_members(bundle)]
            calibrated = CalibratedEnsemble([member.calibrated for member in members], bundle.config.temperature,
                                            bundle.config.framing)
            gate = bundle.load_gate(calibrated.runner.feature_dimension) or members[0].gate
        else:
            calibrated = CalibratedModel.of(ModelRunner(bundle.load_model()), bundle.config)
            gate = bundle.load_gate(calibrated.runner.feature_dimension)
        return cls(calibrated, bundle.config, bundle.name, gate, bundle.release)

    @property
    def runner(self) -> ModelRunner:
        return self.calibrated.runner

    @property
    def model(self) -> keras.Model:
        return self.calibrated.model

    @property
    def uses_metadata(self) -> bool:
        return self.calibrated.uses_metadata

    @property
    def input_size(self) -> tuple:
        return self.calibrated.input_size

    @property
    def encoder(self) -> MetadataEncoder:
        return self.calibrated.encoder

    @property
    def threshold(self) -> float:
        return self.config.malignancy_threshold

    def predict(self, image, age=None, sex=None, site=None, tta: bool = False) -> Prediction:
        """Rank the seven diagnoses for one photo; raises InvalidImageError / InvalidMetadataError.

        The photo is decoded at most ``imaging.DISPLAY_SIDE`` pixels on its longest side, as the app decodes
        uploads: a script gets the app's answer, and a 60-megapixel PNG never sits in memory at full size."""
        self.encoder.encode(age, sex, site)  # validates before any work is done
        photo = imaging.load_rgb(image, max_side=imaging.DISPLAY_SIDE)
        view, box = framed(photo, self.config.framing)
        (probabilities, features, heads), resized = self.view_outputs(view, (age, sex, site), tta)
        probabilities = probabilities[0]
        attention = None
        head_maps = None
        if heads is not None:
            heads = relative_maps(heads, self._plain_heads(resized, tta), BASELINE_FLAT_BELOW)
            head_maps = np.moveaxis(heads[0], -1, 0)
            attention = placed(imaging.upscale_map(heads[0].sum(axis=-1), view.shape[:2]), box, photo.shape)
        order = np.argsort(-probabilities)
        ranked = [(CLASS_CODES[i], float(probabilities[i])) for i in order]
        margin = ranked[0][1] - ranked[1][1]
        low = self.config.low_confidence
        return Prediction(
            ranked=ranked, attention=attention, attention_heads=head_maps,
            malignant_probability=float(malignant_scores(probabilities[None])[0]),
            malignancy_threshold=self.threshold,
            low_confidence=ranked[0][1] < low.min_top_probability or margin < low.min_margin,
            probabilities=dict(ranked),
            gate=None if self.gate is None else self.gate.decide(features, resized)[0])

    def _plain_heads(self, resized: np.ndarray, tta: bool) -> np.ndarray:
        """The attention heads of the model that drew ``resized``'s heads (an ensemble's lead) for a featureless
        photo of its mean colour (``ModelRunner.baseline_colour``, cached per model): the baseline of
        ``relative_maps``. The heads ignore metadata."""
        colour = self.runner.baseline_colour(resized[0].reshape(-1, 3).mean(axis=0))
        return self.runner.baseline_heads(colour, resized.shape[1:3], self.encoder.encode()[None], tta)

    def photo_outputs(self, photo: np.ndarray, details: tuple, tta: bool = False) -> tuple[Outputs, np.ndarray]:
        return self.calibrated.photo_outputs(photo, details, tta)

    def view_outputs(self, view: np.ndarray, details: tuple, tta: bool = False) -> tuple[Outputs, np.ndarray]:
        return self.calibrated.view_outputs(view, details, tta)

    def frame_outputs(self, frame, images=None, ignore_metadata=False, tta=False) -> tuple[Outputs, np.ndarray]:
        return self.calibrated.frame_outputs(frame, images, ignore_metadata, tta)

    def load_images(self, paths, size: tuple[int, int] | None = None) -> np.ndarray:
        return self.calibrated.load_images(paths, size)

    def predict_arrays(self, images: np.ndarray, metadata: np.ndarray, tta: bool = False,
                       batch_size: int = 32) -> Outputs:
        return self.calibrated.predict_arrays(images, metadata, tta, batch_size)


def _flip(batch, horizontal, vertical):
    if horizontal:
        batch = batch[:, :, ::-1]
    if vertical:
        batch = batch[:, ::-1]
    return batch


def _compiled(model: keras.Model):
    """A graph-compiled forward pass: far less per-call overhead than ``model.predict`` for one image."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        function = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
        return lambda inputs: _numpy(function(inputs))
    if keras.backend.backend() == "jax":
        import jax

        function = jax.jit(lambda inputs: model(inputs, training=False))
        return lambda inputs: _numpy(function(inputs))
    return lambda inputs: _numpy(model(inputs, training=False))


def _numpy(outputs):
    if isinstance(outputs, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    return keras.ops.convert_to_numpy(outputs)


def load_predictor(bundle=None) -> Predictor:
    """The Predictor of a bundle: None for the default one in weights/, a bundle name, or a folder path."""
    return Predictor.from_bundle(open_bundle(bundle))
