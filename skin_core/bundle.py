"""Self-describing model bundles: a folder with everything needed to use and judge one trained model.

    <bundle>/model.keras     the Keras model (architecture + weights; loads in safe mode, no code runs)
    <bundle>/config.json     a ``BundleConfig``: backbone, input size, preprocessing, classes, metadata
                             vocabulary, age normalisation, temperature, malignancy threshold, the model card,
                             training record, benchmark figures; validated whenever a bundle is opened
    <bundle>/metrics.json    the evaluation report on the test split (and what it was measured on)
    <bundle>/split.csv       image_id, lesion_id, dx, split: the exact split the numbers come from
    <bundle>/history.csv     one row per training epoch
    <bundle>/reports/        reports added after release, each in its own file, never in config.json:
                             benchmark.json (``python -m skin_core bench``) and external-<set>.json
                             (``python -m skin_core evaluate --record-external <set>``)

A released bundle is never rewritten: ``write_config`` refuses an existing config, and anything that changes an
answer is a new bundle folder with its own ``Bundle.release``.

``weights/catalogue.json`` lists the released clinical models, the ones a doctor is offered, and the default
the app and the command-line tools use when none is given (``Catalogue``). Every other bundle stays usable for
comparison and for the saved cases that name it.
"""

import functools
import hashlib
import json
import math
import shutil
import zipfile
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar

import keras

from skin_core import paths
from skin_core.backbones import BACKBONES
from skin_core.classes import CLASS_CODES
from skin_core.framing import Framing
from skin_core.gate import GATE_FILE, GateSettings, InputGate
from skin_core.layers import PREPROCESSING_MODES
from skin_core.metadata import SEXES, SITES
from skin_core.model import input_shape_of
from skin_core.reports import BundleReport, read_report

SCHEMA_VERSION = 2
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "history.csv"
REPORTS_DIR = "reports"
BENCHMARK_REPORT = "benchmark.json"
EXTERNAL_REPORT = "external-{}.json"  # one per set of photos from another source, by the set's name
CATALOGUE_FILE = "catalogue.json"
LANGUAGES = ("en", "vi")  # the languages a model card is written in
ENSEMBLE = "ensemble"  # the backbone field of a bundle that averages other bundles (its members)
INTENDED_USES = ("clinical", "research")  # research: ablations and experiments, never offered for diagnosis
# Config fields that describe a model without changing any answer it gives. Every other field, and any field
# added later, is part of the release identity (``Bundle.release``).
DESCRIPTIVE_FIELDS = frozenset({"name", "version", "display_name", "intended_use", "model_card", "training",
                                "parameters", "benchmark", "operating_point", "supersedes", "schema_version"})


class BundleError(Exception):
    """A model bundle that cannot be used; the message names the bundle and what is wrong."""


class InvalidCatalogueError(BundleError, ValueError):
    """A weights/catalogue.json that cannot be read."""


class BundleNotFoundError(BundleError, FileNotFoundError):
    """No model bundle at the given name or path."""


class InvalidBundleError(BundleError, ValueError):
    """A bundle whose files are missing, malformed or inconsistent with this code."""

    def __init__(self, bundle: str, field_name: str, problem: str):
        super().__init__(f"Model bundle {bundle!r} is unusable: {field_name}: {problem}")
        self.bundle, self.field, self.problem = bundle, field_name, problem


@dataclass(frozen=True)
class LowConfidence:
    """A result is flagged as uncertain when its top probability or its lead over the second is small."""

    min_top_probability: float = 0.5
    min_margin: float = 0.15


@dataclass(frozen=True)
class AgeNormalisation:
    """The training split's age statistics, used to standardise the age input."""

    mean: float
    std: float


@dataclass(frozen=True)
class TrainingRecord:
    arguments: dict
    epochs_run: int
    wall_time_s: float
    total_wall_time_s: float
    hardware: dict


@dataclass(frozen=True)
class Benchmark:
    """Figures from ``python -m skin_core bench`` on the machine in ``hardware``."""

    parameters: int
    bundle_mb: float
    model_file_mb: float
    latency_ms_median: float
    latency_ms_p90: float
    keras_predict_ms_median: float
    throughput_images_per_s: float
    runs: int
    hardware: dict
    date: str


@dataclass(frozen=True)
class ModelCard:
    """The text that belongs to a model wherever it is shown: ``{language: text}`` per section."""

    intended_use: dict
    data: dict
    limits: dict
    citations: tuple

    def text(self, section: str, language: str = "en") -> str:
        texts = getattr(self, section)
        return texts.get(language) or texts["en"]


@dataclass(frozen=True)
class OperatingPoint:
    """How the malignancy threshold was chosen, on validation photos only: the highest threshold whose
    sensitivity (its lower Wilson bound at ``confidence``, when given) reaches ``target_sensitivity``; with
    ``exposure_margin`` it must also reach it on those photos 15 % darker and 15 % paler, where
    ``threshold_as_is`` is what the photos as they are alone would have given. ``tuning`` (None: validation
    only) records the tuning sets from other cameras that could lower it further (python -m skin_core operating-point):
    their names, melanoma count, the threshold they alone would give, and the sensitivity with its lower Wilson
    bound at the chosen threshold."""

    target_sensitivity: float
    confidence: float | None
    exposure_margin: bool
    threshold_as_is: float
    date: str
    tuning: dict | None = None


@dataclass(frozen=True, kw_only=True)
class BundleConfig:
    """What every bundle's config.json holds, whatever its kind: calibration, operating point, input gate, model
    card and how it was made. ``from_dict`` reads a config as its own kind (ModelConfig or EnsembleConfig) and
    validates it against this code."""

    name: str
    version: str
    input_size: tuple
    metadata: bool  # the model reads age, sex and site (an ensemble: at least one member does)
    soft_attention: bool
    weighted_loss: bool
    age_normalisation: AgeNormalisation
    temperature: float
    malignancy_threshold: float
    model_card: ModelCard
    training: TrainingRecord
    parameters: int
    intended_use: str = "research"
    colour_constancy: bool = False  # a Shades-of-Gray layer inside the model normalises the illuminant
    display_name: str = ""  # what a doctor reads in a model list (the folder name when empty)
    low_confidence: LowConfidence = field(default_factory=LowConfidence)
    class_codes: tuple = CLASS_CODES
    metadata_vocabulary: dict = field(default_factory=lambda: {"sex": list(SEXES), "site": list(SITES)})
    benchmark: Benchmark | None = None  # written here before reports/benchmark.json existed; read, never written
    gate: GateSettings | None = None  # None: no input gate fitted (python -m skin_core fit-gate)
    operating_point: OperatingPoint | None = None  # None: chosen before it was recorded (see training.arguments)
    framing: Framing | None = None  # None: the model sees the whole photo (skin_core.framing)
    supersedes: str = ""  # the bundle this one replaces (a new version); the app offers only the newer
    schema_version: int = SCHEMA_VERSION

    NESTED: ClassVar[dict] = {"age_normalisation": AgeNormalisation, "model_card": ModelCard,
                              "training": TrainingRecord, "low_confidence": LowConfidence,
                              "benchmark": Benchmark, "gate": GateSettings, "operating_point": OperatingPoint,
                              "framing": Framing}
    TUPLES: ClassVar[tuple] = ("input_size", "class_codes")
    # fields another kind has, which configs written before each kind had its own type held as placeholders
    PLACEHOLDERS: ClassVar[frozenset] = frozenset()

    @property
    def clinical(self) -> bool:
        return self.intended_use == "clinical"

    @property
    def is_ensemble(self) -> bool:
        return isinstance(self, EnsembleConfig)

    @property
    def variant(self) -> str:
        """The ablation this model represents: full_model, no_metadata, no_soft_attention or unweighted_loss."""
        for flag, name in ((self.metadata, "no_metadata"), (self.soft_attention, "no_soft_attention"),
                           (self.weighted_loss, "unweighted_loss")):
            if not flag:
                return name
        return "full_model"

    def to_dict(self) -> dict:
        content = asdict(self)
        return {"schema_version": content.pop("schema_version"), **content}

    @staticmethod
    def from_dict(raw: dict, bundle: str) -> "BundleConfig":
        """Read and validate as the config's own kind; raises InvalidBundleError naming ``bundle`` and the
        offending field."""
        if not isinstance(raw, dict):
            raise InvalidBundleError(bundle, CONFIG_FILE, "expected a JSON object")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InvalidBundleError(bundle, "schema_version", f"is {version!r}, this code reads version "
                                     f"{SCHEMA_VERSION}; retrain the bundle with train.py")
        kind = EnsembleConfig if raw.get("members") or raw.get("backbone") == ENSEMBLE else ModelConfig
        values = _fields_of(kind, kind.readable(raw), bundle, "")
        for name, nested in kind.NESTED.items():
            if values.get(name) is not None:
                values[name] = nested(**_fields_of(nested, values[name], bundle, f"{name}."))
        for name in kind.TUPLES:
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        card = values["model_card"]
        values["model_card"] = replace(card, citations=tuple(card.citations))
        config = kind(**values)
        config.validate(bundle)
        return config

    @classmethod
    def readable(cls, raw: dict) -> dict:
        """``raw`` as this kind reads it (an older file's placeholders left out)."""
        return {key: value for key, value in raw.items() if key not in cls.PLACEHOLDERS}

    def validate(self, bundle: str) -> None:
        check = _checker(bundle)
        check(self.class_codes == CLASS_CODES, "class_codes",
              f"{list(self.class_codes)} differs from this code's {list(CLASS_CODES)}; the outputs would be "
              f"mislabelled")
        vocabulary = {"sex": list(SEXES), "site": list(SITES)}
        check(self.metadata_vocabulary == vocabulary, "metadata_vocabulary",
              f"{self.metadata_vocabulary!r} differs from this code's {vocabulary!r}")
        try:
            input_shape_of(self.input_size)
        except (TypeError, ValueError) as error:
            check(False, "input_size", str(error))
        check(self.intended_use in INTENDED_USES, "intended_use",
              f"{self.intended_use!r} is not one of {INTENDED_USES}")
        check(self.intended_use != "clinical" or self.variant == "full_model", "intended_use",
              f"a {self.variant} ablation cannot be marked for clinical use")
        for flag in ("metadata", "soft_attention", "weighted_loss", "colour_constancy"):
            check(isinstance(getattr(self, flag), bool), flag, "must be true or false")
        check(_finite(self.temperature) and self.temperature > 0, "temperature",
              f"must be a positive number, got {self.temperature!r}")
        check(_finite(self.malignancy_threshold) and 0 < self.malignancy_threshold < 1, "malignancy_threshold",
              f"must lie strictly between 0 and 1, got {self.malignancy_threshold!r}")
        if self.operating_point is not None:
            _validate_operating_point(self.operating_point, self.malignancy_threshold, check)
        check(isinstance(self.supersedes, str) and self.supersedes != bundle, "supersedes",
              f"names the bundle this version replaces, never itself; got {self.supersedes!r}")
        for name in ("min_top_probability", "min_margin"):
            value = getattr(self.low_confidence, name)
            check(_finite(value) and 0 <= value <= 1, f"low_confidence.{name}", f"must lie in [0, 1], got {value!r}")
        age = self.age_normalisation
        check(_finite(age.mean) and _finite(age.std) and age.std > 0, "age_normalisation",
              f"needs a finite mean and a positive std, got {age!r}")
        if self.gate is not None:
            _validate_gate(self.gate, check)
        if self.framing is not None:
            for name, value in asdict(self.framing).items():
                check(_finite(value) and 0 < value <= 1, f"framing.{name}", f"must be a number in (0, 1], got {value!r}")
        for section in ("intended_use", "data", "limits"):
            texts = getattr(self.model_card, section)
            check(isinstance(texts, dict) and isinstance(texts.get("en"), str) and texts["en"].strip(),
                  f"model_card.{section}", "needs at least an English text")


@dataclass(frozen=True, kw_only=True)
class ModelConfig(BundleConfig):
    """A trained network: its backbone, the preprocessing inside it, the class weights it was trained with and
    the pretrained weights it started from."""

    backbone: str
    preprocessing: str
    class_weights: dict
    pretrained_weights: dict

    PLACEHOLDERS: ClassVar[frozenset] = frozenset({"members"})  # always empty for a trained network

    @property
    def members(self) -> tuple:
        """The other bundles this one needs: none (EnsembleConfig names its members)."""
        return ()

    def validate(self, bundle: str) -> None:
        super().validate(bundle)
        check = _checker(bundle)
        check(self.backbone in BACKBONES, "backbone", f"{self.backbone!r} is not a registered backbone")
        check(self.preprocessing in PREPROCESSING_MODES, "preprocessing",
              f"{self.preprocessing!r} is not one of {PREPROCESSING_MODES}")


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig(BundleConfig):
    """Other bundles (``members``, by name in the same folder; the first leads) whose calibrated probabilities
    are averaged and calibrated again; with ``framing``, one member may be shown framed photos."""

    members: tuple

    TUPLES: ClassVar[tuple] = (*BundleConfig.TUPLES, "members")
    PLACEHOLDERS: ClassVar[frozenset] = frozenset({"backbone", "preprocessing", "pretrained_weights",
                                                   "class_weights"})

    @property
    def backbone(self) -> str:
        """What pages show in a backbone column: an ensemble has none of its own."""
        return ENSEMBLE

    def validate(self, bundle: str) -> None:
        super().validate(bundle)
        fewest = 1 if self.framing else 2  # one member: a trained model shown framed photos
        _checker(bundle)(len(self.members) >= fewest and all(isinstance(m, str) and m and m != bundle
                                                             for m in self.members), "members",
                         f"an ensemble names at least two other bundles (one when it frames the photos), got "
                         f"{list(self.members)!r}")


def _checker(bundle: str):
    def check(ok, field_name, problem):
        if not ok:
            raise InvalidBundleError(bundle, field_name, problem)
    return check


def _validate_operating_point(point: OperatingPoint, threshold: float, check) -> None:
    check(_finite(point.target_sensitivity) and 0 < point.target_sensitivity < 1,
          "operating_point.target_sensitivity", f"must lie strictly between 0 and 1, got "
          f"{point.target_sensitivity!r}")
    check(point.confidence is None or (_finite(point.confidence) and 0 < point.confidence < 1),
          "operating_point.confidence", f"must be null or lie strictly between 0 and 1, got "
          f"{point.confidence!r}")
    check(isinstance(point.exposure_margin, bool), "operating_point.exposure_margin", "must be true or false")
    check(_finite(point.threshold_as_is) and threshold <= point.threshold_as_is < 1,
          "operating_point.threshold_as_is", f"must lie between the malignancy threshold and 1 (the margin "
          f"only lowers it), got {point.threshold_as_is!r}")


def _validate_gate(gate: GateSettings, check) -> None:
    for name, value in asdict(gate).items():
        if name == "skin_region":
            check(isinstance(value, bool), "gate.skin_region", f"must be true or false, got {value!r}")
        elif value is not None or name not in ("min_lesion_share", "min_contrast"):  # None: an older gate
            check(_finite(value) and value >= 0, f"gate.{name}", f"must be a number >= 0, got {value!r}")
    check(0 < gate.threshold < 1, "gate.threshold", f"must lie strictly between 0 and 1, got {gate.threshold!r}")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fields_of(cls, raw, bundle: str, prefix: str) -> dict:
    """The dataclass fields of ``cls`` from ``raw``: unknown keys and missing required ones are errors."""
    if not isinstance(raw, dict):
        raise InvalidBundleError(bundle, prefix.rstrip(".") or CONFIG_FILE, "expected a JSON object")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise InvalidBundleError(bundle, prefix + unknown[0], "is not a field this code knows")
    for f in fields(cls):
        if f.name not in raw and f.default is MISSING and f.default_factory is MISSING:
            raise InvalidBundleError(bundle, prefix + f.name, "is missing")
    return dict(raw)


@dataclass(frozen=True)
class Bundle:
    path: Path
    config: BundleConfig
    metrics: dict

    @property
    def name(self) -> str:
        return self.path.name

    @functools.cached_property
    def release(self) -> str:
        """The exact version a saved case and an analysis name: the config's date and a digest of everything that
        decides an answer (the weights, the gate's statistics, every config value outside DESCRIPTIVE_FIELDS and,
        for an ensemble, its members' releases). Two bundles with one release answer every photo alike; any
        change to an answer changes it, even one made without a new date. It is taken from config.json as
        written, so that a later version of this code, which may read more fields, names the same release."""
        written = read_json(self.path / CONFIG_FILE, self.name)
        answers = {key: value for key, value in written.items() if key not in DESCRIPTIVE_FIELDS}
        digest = hashlib.sha256(json.dumps(answers, sort_keys=True).encode())
        for file_name in (MODEL_FILE, GATE_FILE):
            if (self.path / file_name).is_file():
                digest.update(file_digest(self.path / file_name).encode())
        for member in open_members(self) if self.config.is_ensemble else ():
            digest.update(member.release.encode())
        return f"{self.config.version}+{digest.hexdigest()[:12]}"

    @functools.cached_property
    def report(self) -> BundleReport | None:
        """metrics.json and the added external reports, typed (None for a bundle not yet evaluated)."""
        if not self.metrics:
            return None
        try:
            return read_report(self.metrics)
        except (ValueError, TypeError) as error:
            raise InvalidBundleError(self.name, METRICS_FILE, str(error)) from None

    @functools.cached_property
    def benchmark(self) -> Benchmark | None:
        """The latest ``python -m skin_core bench`` figures (reports/benchmark.json, else those the config was
        released with)."""
        report = read_json(self.path / REPORTS_DIR / BENCHMARK_REPORT, self.name)
        if not report:
            return self.config.benchmark
        return Benchmark(**_fields_of(Benchmark, report, self.name, f"{REPORTS_DIR}/{BENCHMARK_REPORT}: "))

    def load_model(self) -> keras.Model:
        """The Keras model, in safe mode; a damaged file or one that would run code is an InvalidBundleError."""
        # Importing the package registers the custom layers with Keras's serialisation.
        import skin_core.attention, skin_core.layers  # noqa: F401, E401

        model_file = self.path / MODEL_FILE
        if self.config.is_ensemble:
            raise InvalidBundleError(self.name, MODEL_FILE, "an ensemble has no model of its own; load its members")
        if not zipfile.is_zipfile(model_file):
            raise InvalidBundleError(self.name, MODEL_FILE, "is damaged or not a Keras model archive")
        try:
            return keras.saving.load_model(model_file, compile=False, safe_mode=True)
        except Exception as error:  # Keras raises many types for a broken archive; all mean the same here
            raise InvalidBundleError(self.name, MODEL_FILE, f"cannot be loaded ({error})") from error


    def load_gate(self, feature_dimension: int) -> InputGate | None:
        """The fitted input gate (None when the bundle has none); a damaged gate.npz is an InvalidBundleError."""
        if self.config.gate is None:
            return None
        try:
            return InputGate.load(self.path, self.config.gate, feature_dimension)
        except ValueError as error:
            raise InvalidBundleError(self.name, GATE_FILE, str(error)) from None


def read_json(path: Path, bundle: str) -> dict:
    """A bundle's JSON file, or {} when absent; malformed JSON is an InvalidBundleError."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidBundleError(bundle, path.name, f"is not valid JSON ({error})") from None


def file_digest(path: Path) -> str:
    """SHA-256 of a file, computed once per version of it (a model file is read whole)."""
    status = Path(path).stat()
    return _file_digest(Path(path), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=256)
def _file_digest(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as opened:
        for block in iter(lambda: opened.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_config(folder: Path, config: BundleConfig) -> None:
    """The config of a new bundle; an existing one is never rewritten (a change is a new version, a figure a
    report: ``write_report``)."""
    target = Path(folder) / CONFIG_FILE
    if target.exists():
        raise FileExistsError(f"{target} exists: a released bundle is never rewritten. Write a new version into a "
                              f"new folder, or a report with write_report.")
    config.validate(Path(folder).name)
    write_json(target, config.to_dict())


def write_report(bundle: "Bundle", file_name: str, content: dict) -> Path:
    """Add or replace one report beside a released bundle (reports/<file_name>); its config stays as released."""
    folder = bundle.path / REPORTS_DIR
    folder.mkdir(exist_ok=True)
    write_json(folder / file_name, content)
    return folder / file_name


def copy_for_new_version(bundle: Bundle, target: Path) -> None:
    """The files a new version of ``bundle`` keeps (weights, split, history, benchmark) in a new folder, without
    the config and the reports that the new version writes afresh."""
    shutil.copytree(bundle.path, target, ignore=shutil.ignore_patterns(
        CONFIG_FILE, METRICS_FILE, EXTERNAL_REPORT.format("*"), "checkpoint*"))


def is_bundle(folder: Path) -> bool:
    """A folder with a config and a model, or an ensemble's config (which names its members instead)."""
    config = folder / CONFIG_FILE
    if not config.is_file():
        return False
    if (folder / MODEL_FILE).is_file():
        return True
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("members"))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def open_members(bundle: Bundle) -> list[Bundle]:
    """An ensemble's member bundles, from the folder that holds the ensemble; a missing member names it."""
    members = []
    for name in bundle.config.members:
        try:
            members.append(open_bundle(name, bundle.path.parent))
        except BundleError as error:
            raise InvalidBundleError(bundle.name, "members", f"member {name!r} is unusable ({error})") from None
    return members


def list_bundles(weights_dir=None) -> list[str]:
    """Names of the bundle folders in weights/, usable or not (``scan`` tells which)."""
    weights_dir = Path(weights_dir or paths.weights_dir())
    if not weights_dir.is_dir():
        return []
    return sorted(p.name for p in weights_dir.iterdir() if is_bundle(p))


@dataclass(frozen=True)
class Catalogue:
    """The released clinical models (weights/catalogue.json): what a doctor may choose for a new diagnosis, the
    default among them, and each one's name as a doctor reads it, in every language of the app."""

    default: str
    released: tuple[str, ...]
    names: dict = field(default_factory=dict)  # bundle -> {language: readable name}

    def __post_init__(self):
        names = self.released
        if not (isinstance(names, tuple) and names and all(isinstance(name, str) and name for name in names)
                and len(set(names)) == len(names)):
            raise ValueError(f"released must list distinct bundle names, got {self.released!r}")
        if self.default not in self.released:
            raise ValueError(f"the default {self.default!r} is not among the released models {list(self.released)}")
        for name in self.released:
            readable = self.names.get(name)
            if not (isinstance(readable, dict) and all(isinstance(readable.get(language), str) and readable[language]
                                                       for language in LANGUAGES)):
                raise ValueError(f"names[{name!r}] must give a readable name in {list(LANGUAGES)}, got {readable!r}")


def read_catalogue(weights_dir=None) -> Catalogue | None:
    """The catalogue of ``weights_dir`` (None when it has none: every clinical bundle's newest version is then
    offered); a malformed one is an InvalidCatalogueError naming the file."""
    named = Path(weights_dir or paths.weights_dir()) / CATALOGUE_FILE
    if not named.is_file():
        return None
    stat = named.stat()
    return _parsed_catalogue(named, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parsed_catalogue(named: Path, mtime_ns: int, size: int) -> Catalogue:
    """Parsed once per version of the file: every model name a page writes asks for it."""
    try:
        content = json.loads(named.read_text(encoding="utf-8"))
        return Catalogue(content["default"], tuple(content["released"]), dict(content["names"]))
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as error:
        raise InvalidCatalogueError(f"{named} is unusable: it needs \"default\", \"released\" and \"names\" "
                                    f"({error})") from None


def write_catalogue(catalogue: Catalogue, weights_dir=None) -> None:
    write_json(Path(weights_dir or paths.weights_dir()) / CATALOGUE_FILE,
               {"default": catalogue.default, "released": list(catalogue.released), "names": catalogue.names})


def default_bundle_name(weights_dir=None) -> str:
    catalogue = read_catalogue(weights_dir)
    if catalogue is not None:
        return catalogue.default
    bundles = list_bundles(weights_dir)
    if not bundles:
        raise BundleNotFoundError(f"No model bundle in {Path(weights_dir or paths.weights_dir())}. Train one with "
                                  f"train.py or copy one there.")
    return bundles[0]


def resolve(bundle=None, weights_dir=None) -> Path:
    """A bundle folder from None (the default), a bundle name in weights/ or a path."""
    weights_dir = Path(weights_dir or paths.weights_dir())
    if bundle is None:
        bundle = default_bundle_name(weights_dir)
    for candidate in (Path(bundle), weights_dir / str(bundle)):
        if is_bundle(candidate):
            return candidate
    raise BundleNotFoundError(f"No model bundle {str(bundle)!r} (looked for {MODEL_FILE} and {CONFIG_FILE}).")


def open_bundle(bundle=None, weights_dir=None) -> Bundle:
    """The bundle's validated config and metrics; raises BundleNotFoundError or InvalidBundleError."""
    path = resolve(bundle, weights_dir)
    config = BundleConfig.from_dict(read_json(path / CONFIG_FILE, path.name), path.name)
    metrics = read_json(path / METRICS_FILE, path.name)
    if not isinstance(metrics, dict):
        raise InvalidBundleError(path.name, METRICS_FILE, "expected a JSON object")
    prefix, suffix = EXTERNAL_REPORT.split("{}")
    for report in sorted((path / REPORTS_DIR).glob(EXTERNAL_REPORT.format("*"))):
        content = read_json(report, path.name)
        if not isinstance(content, dict):
            raise InvalidBundleError(path.name, f"{REPORTS_DIR}/{report.name}", "expected a JSON object")
        metrics.setdefault("external", {})[report.name.removeprefix(prefix).removesuffix(suffix)] = content
    opened = Bundle(path, config, metrics)
    _ = opened.report  # a report that lacks a figure makes the bundle unusable here, not on a page later
    if config.is_ensemble:
        open_members(opened)  # an ensemble with a missing or broken member is itself unusable
    return opened


def scan(weights_dir=None) -> tuple[list[Bundle], dict[str, BundleError]]:
    """Every bundle in weights/: the usable ones, and the broken ones with the reason, so that one damaged
    folder never hides the others."""
    usable, broken = [], {}
    for name in list_bundles(weights_dir):
        try:
            usable.append(open_bundle(name, weights_dir))
        except BundleError as error:
            broken[name] = error
    return usable, broken


def weights_signature(weights_dir=None) -> tuple:
    """Every file in weights/ and its bundle folders with size and modification time: ``scan`` gives the same
    answer while this stays the same, so a caller can keep a scan until a bundle is added, changed or removed."""
    weights_dir = Path(weights_dir or paths.weights_dir())
    if not weights_dir.is_dir():
        return ()
    entries = [str(weights_dir.resolve())]
    for entry in sorted(weights_dir.iterdir()):
        for item in sorted(entry.rglob("*")) if entry.is_dir() else [entry]:
            status = item.stat()
            entries.append((str(item.relative_to(weights_dir)), status.st_size, status.st_mtime_ns))
    return tuple(entries)


def evaluated_bundles(weights_dir=None) -> list[Bundle]:
    """The usable bundles in weights/ that carry a metrics report, in name order."""
    return [b for b in scan(weights_dir)[0] if b.metrics]


def save_model(model: keras.Model, folder: Path) -> None:
    """Write the model without its optimizer state (a third of the size, and nothing a user needs)."""
    inference_copy = keras.Model.from_config(model.get_config())
    inference_copy.set_weights(model.get_weights())
    inference_copy.save(Path(folder) / MODEL_FILE)
