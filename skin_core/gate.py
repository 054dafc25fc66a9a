"""The input gate: before any diagnosis, is the photo a usable dermoscopic image of a skin lesion?

The classifier knows 7 dermoscopic diagnoses and answers something for any picture. The gate answers first,
per photo, with a reason code:

- ``ok``;
- ``poor_quality``: blurred, too dark, too bright or the lesion too small in the frame, by limits measured on
  the training photos (the 0.1 and 99.9 percentiles of sharpness and brightness, the 0.1 percentile of the
  lesion's share of the photo, at the model's input size). A blurred or badly exposed photo
  also drifts away from the training photos, so below an even chance of "not dermoscopic" the quality problem
  is named first: retaking the photo is what the doctor needs to hear;
- ``not_dermoscopic``: a logistic regression on the model's own pooled backbone features (computed in the
  same forward pass as the diagnosis, so the gate costs almost nothing) separates the training split's
  dermoscopic photos from labelled photos that are not (clinical photos of skin, non-skin photos, other
  medical images). Its threshold is the most lenient one that still flags the target share of every
  category out of fold (grouped by source), but never one that flags more than 1 % of the validation split's
  dermoscopic photos; the images the gate is reported on are never the ones it was tuned on.

    python -m skin_core.gate --model mobilenetv2 [--ood ../shared/data/ood_dev] [--data <HAM10000 folder>]

fits the gate of a bundle and writes its weights (``gate.npz``), its threshold and quality limits (config.json)
and its measured rates (metrics.json). For an ensemble it fits nothing: it measures the lead member's gate on
the photos as the ensemble shows them to the lead (framed, for a framed bundle) and writes the rates.
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from skin_core import imaging
from skin_core.framing import darker_component, framed

OK, NOT_DERMOSCOPIC, POOR_QUALITY = "ok", "not_dermoscopic", "poor_quality"
BLURRED, TOO_DARK, TOO_BRIGHT, LESION_TOO_SMALL = "blurred", "too_dark", "too_bright", "lesion_too_small"
QUALITY_PROBLEMS = (BLURRED, TOO_DARK, TOO_BRIGHT, LESION_TOO_SMALL)
GATE_FILE = "gate.npz"
# Share of each kind of wrong input the operating point must flag (the project's targets).
FLAG_TARGETS = {"A_clinical": 0.80, "B_nonskin": 0.95, "C_medical": 0.95}
QUALITY_PERCENTILES = (0.1, 99.9)
MAX_VALIDATION_FLAGGED = 0.01  # of the in-distribution validation photos, at most
REGULARISATION = 0.01  # logistic regression's C: few negatives, many features
OOD_FOLDS = 5


@dataclass(frozen=True)
class GateDecision:
    reason: str  # OK, NOT_DERMOSCOPIC or POOR_QUALITY
    problem: str | None  # for POOR_QUALITY: one of QUALITY_PROBLEMS
    score: float  # probability that the photo is not a dermoscopic lesion image

    @property
    def flagged(self) -> bool:
        return self.reason != OK


def quality_measures(images: np.ndarray) -> np.ndarray:
    """(N, 3): sharpness (variance of the Laplacian of the grey image), brightness (mean grey level) and the
    lesion's share of the photo (``lesion_share``), for uint8 RGB images at the model's input size."""
    rows = []
    for image in images:
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        rows.append((float(cv2.Laplacian(grey, cv2.CV_32F).var()), float(grey.mean()), lesion_share(grey)))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def lesion_share(grey: np.ndarray) -> float:
    """Share of the photo covered by the lesion: the part darker than the skin around it (Otsu's threshold
    on the smoothed grey image) that lies nearest the centre, where a dermoscopic photo puts the lesion, larger
    parts preferred. Against the HAM10000 lesion masks (the 1505 validation photos of the MobileNetV2 split) its
    share has a Spearman correlation of 0.79 with the mask's: 0.92 for naevi and 0.83 for melanomas, but
    0.2-0.6 for pale lesions (akiec, bcc, bkl), so it is a coarse check: the limit fitted on the training
    photos (their 0.1 percentile, about 0.2 % of the photo) flags a photo in which no lesion stands out, or
    one taken from so far that the lesion is a speck, and none of the validation or test photos."""
    found = darker_component(grey)
    return found[4] / grey.size if found else 0.0


@dataclass(frozen=True)
class GateSettings:
    """The gate's operating point, kept in the bundle's config.json (its weights are in gate.npz)."""

    threshold: float  # flag as not dermoscopic when the score reaches it
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    min_lesion_share: float | None = None  # None: a gate fitted before the lesion's size was checked


@dataclass(frozen=True)
class InputGate:
    """The fitted gate: feature standardisation and logistic weights, with its settings."""

    feature_mean: np.ndarray
    feature_scale: np.ndarray
    coef: np.ndarray
    intercept: float
    settings: GateSettings

    def scores(self, features: np.ndarray) -> np.ndarray:
        logits = ((np.asarray(features, np.float64) - self.feature_mean) / self.feature_scale) @ self.coef
        return 1.0 / (1.0 + np.exp(-(logits + self.intercept)))

    def decide(self, features: np.ndarray, images: np.ndarray) -> list[GateDecision]:
        """One decision per photo from its pooled features and its resized uint8 image."""
        limits, decisions = self.settings, []
        for score, (sharpness, brightness, share) in zip(self.scores(features), quality_measures(images)):
            problem = (BLURRED if sharpness < limits.min_sharpness else TOO_DARK if brightness < limits.min_brightness
                       else TOO_BRIGHT if brightness > limits.max_brightness
                       else LESION_TOO_SMALL if limits.min_lesion_share is not None and share < limits.min_lesion_share
                       else None)
            if score >= max(limits.threshold, 0.5):
                decisions.append(GateDecision(NOT_DERMOSCOPIC, None, float(score)))
            elif problem is not None:
                decisions.append(GateDecision(POOR_QUALITY, problem, float(score)))
            elif score >= limits.threshold:
                decisions.append(GateDecision(NOT_DERMOSCOPIC, None, float(score)))
            else:
                decisions.append(GateDecision(OK, None, float(score)))
        return decisions

    def save(self, folder: Path) -> None:
        np.savez(Path(folder) / GATE_FILE, feature_mean=self.feature_mean, feature_scale=self.feature_scale,
                 coef=self.coef, intercept=np.float64(self.intercept))

    @classmethod
    def load(cls, folder: Path, settings: GateSettings, dimension: int) -> "InputGate":
        """Read gate.npz; ValueError when it is absent, damaged or does not fit the model's features."""
        try:
            with np.load(Path(folder) / GATE_FILE) as stored:
                arrays = {name: stored[name] for name in ("feature_mean", "feature_scale", "coef", "intercept")}
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"cannot be read ({error})") from None
        if not all(arrays[name].shape == (dimension,) for name in ("feature_mean", "feature_scale", "coef")):
            raise ValueError(f"holds weights for {arrays['coef'].shape} features; the model gives {dimension}")
        return cls(arrays["feature_mean"], arrays["feature_scale"], arrays["coef"], float(arrays["intercept"]),
                   settings)


def operating_threshold(out_of_fold: np.ndarray, categories: np.ndarray, targets=FLAG_TARGETS) -> float:
    """The most lenient threshold that still flags each category's target share of its out-of-fold scores."""
    return float(min(np.quantile(out_of_fold[categories == c], 1.0 - share) for c, share in targets.items()
                     if (categories == c).any()))


def fit_gate(positives: np.ndarray, positive_images: np.ndarray, validation: np.ndarray, negatives: np.ndarray,
             categories: np.ndarray, groups: np.ndarray) -> InputGate:
    """Fit on in-distribution training features (and their images, for the quality limits) against the
    tuning negatives; the threshold comes from out-of-fold scores of the negatives, grouped by source, and is
    raised where needed so that at most MAX_VALIDATION_FLAGGED of the ``validation`` features are flagged."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    mean, scale = positives.mean(axis=0), positives.std(axis=0) + 1e-6

    def fitted(negative_rows):
        x = (np.concatenate([positives, negatives[negative_rows]]) - mean) / scale
        y = np.r_[np.zeros(len(positives)), np.ones(len(negative_rows))]
        return LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=5000).fit(x, y)

    out_of_fold = np.zeros(len(negatives))
    for train_rows, held_rows in GroupKFold(min(OOD_FOLDS, len(set(groups)))).split(negatives, groups=groups):
        out_of_fold[held_rows] = fitted(train_rows).predict_proba((negatives[held_rows] - mean) / scale)[:, 1]
    final = fitted(np.arange(len(negatives)))
    validation_scores = final.predict_proba((validation - mean) / scale)[:, 1]
    threshold = max(operating_threshold(out_of_fold, categories),
                    float(np.quantile(validation_scores, 1.0 - MAX_VALIDATION_FLAGGED)))
    sharpness, brightness, share = quality_measures(positive_images).T
    low, high = QUALITY_PERCENTILES
    settings = GateSettings(threshold, float(np.percentile(sharpness, low)), float(np.percentile(brightness, low)),
                            float(np.percentile(brightness, high)), float(np.percentile(share, low)))
    return InputGate(mean, scale, final.coef_[0].astype(np.float64), float(final.intercept_[0]), settings)


def split_ood(labels: pd.DataFrame, seed: int = 0) -> pd.Series:
    """'tune' or 'report' per row, by source group (the source repository; for a single-source category,
    its subfolders), about half of each category's groups on each side."""
    groups = source_groups(labels)
    rng = np.random.default_rng(seed)
    tune = set()
    for _, rows in labels.assign(group=groups).groupby("category"):
        names = sorted(rows["group"].unique())
        rng.shuffle(names)
        tune |= set(names[: len(names) // 2])
    return pd.Series(np.where(groups.isin(tune), "tune", "report"), index=labels.index, name="part")


def source_groups(labels: pd.DataFrame) -> pd.Series:
    single = labels.groupby("category")["source_repo"].transform("nunique") == 1
    folder = labels["source_path"].str.rsplit("/", n=1).str[0]
    return pd.Series(np.where(single, labels["source_repo"] + ":" + folder, labels["source_repo"]),
                     index=labels.index)


def summarise(decisions) -> dict:
    """How many photos the gate flags: the share, and the count per reason and per quality problem."""
    reasons = [d.reason for d in decisions]
    n = len(reasons)
    return {"n": n, "flagged": round(sum(r != OK for r in reasons) / n, 4) if n else None,
            **{reason: sum(r == reason for r in reasons) for reason in (OK, NOT_DERMOSCOPIC, POOR_QUALITY)},
            **{problem: sum(d.problem == problem for d in decisions) for problem in QUALITY_PROBLEMS}}


def gate_report(gate: InputGate, inside: dict, outside: dict) -> dict:
    """Flag rates for each in-distribution set, and for each out-of-distribution category its flag rate and
    the AUROC of the gate score against the first in-distribution set (the internal test split).

    ``inside`` / ``outside``: name -> (features, images)."""
    from sklearn.metrics import roc_auc_score

    reference = gate.scores(next(iter(inside.values()))[0])
    report = {"in_distribution": {name: summarise(gate.decide(*data)) for name, data in inside.items()},
              "out_of_distribution": {}}
    for name, (features, images) in outside.items():
        scores = gate.scores(features)
        auroc = roc_auc_score(np.r_[np.zeros(len(reference)), np.ones(len(scores))], np.r_[reference, scores])
        report["out_of_distribution"][name] = {**summarise(gate.decide(features, images)), "auroc": round(auroc, 4)}
    return report


def decision_latency_ms(gate: InputGate, features: np.ndarray, images: np.ndarray, runs: int = 200) -> float:
    """Median time of one photo's decision (quality measures and score), on top of the forward pass."""
    timings = []
    for index in range(runs):
        row = index % len(images)
        started = time.perf_counter()
        gate.decide(features[row:row + 1], images[row:row + 1])
        timings.append((time.perf_counter() - started) * 1000.0)
    return round(float(np.median(timings)), 3)


def main(argv=None) -> int:
    from skin_core import bundle as bundles
    from skin_core import paths
    from skin_core.data import SPLITS, read_dataset
    from skin_core.predictor import Predictor

    parser = argparse.ArgumentParser(prog="python -m skin_core.gate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="bundle name in weights/ or folder")
    parser.add_argument("--data", default=str(paths.ham10000_dir()), help="the bundle's training data folder")
    parser.add_argument("--ood", default=str(paths.shared_dir() / "data" / "ood_dev"),
                        help="labelled photos that are not dermoscopic (labels.csv: image_id, category, "
                             "source_repo, source_path)")
    parser.add_argument("--external", default=str(paths.shared_dir() / "data" / "external" / "isic2017_test"),
                        help="dermoscopic photos from other clinics, reported only (never tuned on)")
    args = parser.parse_args(argv)
    try:
        bundle = bundles.open_bundle(args.model)
        predictor = Predictor.from_bundle(bundle)
        frame = read_dataset(args.data)
        ood = pd.read_csv(Path(args.ood) / "labels.csv", dtype={"image_id": str})
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if bundle.config.is_ensemble and predictor.gate is None:
        print(f"error: the lead member of {bundle.name} has no input gate; fit it first (--model "
              f"{bundle.config.members[0]}).", file=sys.stderr)
        return 2
    split = pd.read_csv(bundle.path / bundles.SPLIT_FILE, dtype={"image_id": str})
    frame = frame.merge(split[["image_id", "split"]], on="image_id", how="inner")

    lead = getattr(predictor, "members", [predictor])[0]  # an ensemble's gate is its lead member's

    def outputs(images, rows=None):
        """Features as the Predictor sees them: the patient's details when known, unknown otherwise."""
        metadata = (np.repeat(lead.encoder.encode()[None], len(images), axis=0) if rows is None
                    else lead.encoder.encode_frame(rows))
        return lead.predict_arrays(images, metadata).features, images

    print("Computing features ...", flush=True)
    ham = {}
    for name in SPLITS:
        rows = frame[frame["split"] == name].reset_index(drop=True)
        ham[name] = outputs(predictor.load_images(rows["path"]), rows)
    ood["part"] = split_ood(ood)
    ood_paths = [next((Path(args.ood) / "images").glob(f"{image_id}.*")) for image_id in ood["image_id"]]
    ood_features, ood_images = outputs(predictor.load_images(ood_paths))
    tune = (ood["part"] == "tune").to_numpy()
    if bundle.config.is_ensemble:  # measured as it runs: the lead's gate on what the ensemble shows the lead
        gate = predictor.gate
    else:
        gate = fit_gate(ham["train"][0], ham["train"][1], ham["val"][0], ood_features[tune],
                        ood["category"].to_numpy()[tune], source_groups(ood).to_numpy()[tune])

    inside = {"internal_test": ham["test"]}
    external = Path(args.external)
    if (external / "labels.csv").is_file() or any(external.glob("*.csv")):
        rows = read_dataset(external)
        inside["isic2017_test"] = outputs(predictor.load_images(rows["path"]))
    report_rows = ~tune
    outside = {category: (ood_features[report_rows & (ood["category"] == category).to_numpy()],
                          ood_images[report_rows & (ood["category"] == category).to_numpy()])
               for category in FLAG_TARGETS}
    # The clinical photos carry a logo in their lower part: check the gate without it.
    clinical = [i for i in np.flatnonzero(report_rows & (ood["category"] == "A_clinical").to_numpy())]
    cropped = np.stack([_top_part(ood_paths[i], predictor) for i in clinical])
    outside["A_clinical_logo_cropped"] = outputs(cropped)
    report = gate_report(gate, inside, outside)
    report.update({
        **asdict(gate.settings), "targets": FLAG_TARGETS,
        "tuned_on": {"in_distribution": f"training split ({len(ham['train'][0])} photos)",
                     "out_of_distribution": f"{int(tune.sum())} photos of {paths.recorded(args.ood)}, half of each "
                                            f"category's sources", "reported_on": f"the other {int((~tune).sum())}"},
        "latency_ms_median": decision_latency_ms(gate, *ham["test"]),
    })
    if not bundle.config.is_ensemble:
        gate.save(bundle.path)
        bundles.write_config(bundle.path, replace(bundle.config, gate=gate.settings))
    bundles.write_json(bundle.path / bundles.METRICS_FILE, {**bundle.metrics, "gate": report})
    print(json.dumps(report, indent=2))
    return 0


def _top_part(path: Path, predictor) -> np.ndarray:
    """The upper 60 % of a photo, as the predictor shows it to its model: the part above a bottom-corner logo."""
    photo = imaging.load_rgb(path)
    return imaging.resize(framed(photo[: int(photo.shape[0] * 0.6)], predictor.config.framing)[0],
                          predictor.input_size)


if __name__ == "__main__":
    sys.exit(main())
