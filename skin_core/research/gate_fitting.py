"""Fitting the input gate (skin_core.gate) and releasing it with a new version of its bundle.

The logistic regression separates dermoscopic photos (the HAM10000 training split and other cameras' training
photos) from labelled photos that are not (clinical photos of skin, non-skin photos, other medical images). Its
threshold is the most lenient one that still flags the target share of every category out of fold (grouped by
source), raised where needed so that at most ``MAX_FLAGGED`` of each choosing set of dermoscopic photos
(HAM10000 validation and the tuning sets of other cameras) is flagged for any reason; the quality limits come
from the dermoscopic training photos, widened where other cameras need it. The photos the gate is reported on
are never the ones it was fitted or tuned on.

    python -m skin_core fit-gate --model efficientnetlite2-224 --release efficientnetlite2-224-v2 [--cache DIR]

writes a new version of the bundle beside it (a released bundle is never rewritten): gate.npz, the settings in
config.json, the measured rates in metrics.json. An ensemble gets its own gate, fitted on its lead member's
features for the photos as the ensemble shows them to the lead.
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from skin_core import imaging
from skin_core.framing import framed
from skin_core.gate import GateSettings, InputGate, quality_measures, summarise

# Share of each kind of wrong input the operating point must flag (the project's targets).
FLAG_TARGETS = {"A_clinical": 0.80, "B_nonskin": 0.95, "C_medical": 0.95}
QUALITY_PERCENTILES = (0.1, 99.9)
MAX_FLAGGED = 0.02  # of each choosing set of dermoscopic photos (other cameras, HAM10000 validation), at most
MAX_FLAGGED_PER_LIMIT = 0.005  # of each choosing set, by one quality limit alone: the rest is the score's
REGULARISATION = 0.01  # logistic regression's C: few negatives, many features
OOD_FOLDS = 5


def operating_threshold(out_of_fold: np.ndarray, categories: np.ndarray, targets=FLAG_TARGETS) -> float:
    """The most lenient threshold that still flags each category's target share of its out-of-fold scores."""
    return float(min(np.quantile(out_of_fold[categories == c], 1.0 - share) for c, share in targets.items()
                     if (categories == c).any()))


def accepting_threshold(scores: np.ndarray, other_problem: np.ndarray, max_flagged: float = MAX_FLAGGED) -> float:
    """The strictest threshold at which a choosing set of dermoscopic photos, ``scores`` with ``other_problem``
    (flagged by a quality limit anyway), has at most ``max_flagged`` of its photos flagged (1.0 when the quality
    limits alone flag more)."""
    allowed = int(np.floor(max_flagged * len(scores) + 1e-9)) - int(other_problem.sum())
    remaining = np.sort(scores[~other_problem])[::-1]
    if allowed < 0:
        return 1.0
    if allowed >= len(remaining):
        return 0.0
    return float(np.nextafter(remaining[allowed], np.inf))  # flags the ``allowed`` highest scores, no more


def quality_limits(accepted: np.ndarray, choosing: list[np.ndarray]) -> dict:
    """Limits from the accepted photos' measures (their QUALITY_PERCENTILES), widened where a choosing set would
    lose more than MAX_FLAGGED_PER_LIMIT of its photos to one limit."""
    low, high = QUALITY_PERCENTILES
    share = MAX_FLAGGED_PER_LIMIT

    def lowest(column, percentile):  # a set's own photo as the limit: of a small set, it flags none
        return float(min([np.percentile(accepted[:, column], percentile)]
                         + [np.quantile(measures[:, column], share, method="lower") for measures in choosing]))

    return {"min_sharpness": lowest(0, low), "min_brightness": lowest(1, low),
            "max_brightness": float(max([np.percentile(accepted[:, 1], high)]
                                        + [np.quantile(measures[:, 1], 1 - share, method="higher")
                                           for measures in choosing])),
            "min_lesion_share": lowest(2, low), "min_contrast": lowest(3, low)}


def fit_gate(positives: np.ndarray, positive_images: np.ndarray, choosing: dict, negatives: np.ndarray,
             categories: np.ndarray, groups: np.ndarray) -> tuple[InputGate, dict]:
    """Fit on dermoscopic training features (and their images, for the quality limits) against the tuning
    negatives, and choose the operating point; returns the gate and its tuning figures.

    ``choosing``: name -> (features, images) of dermoscopic photos the gate is not fitted on (other cameras,
    HAM10000 validation). The quality limits are widened for them (``quality_limits``); the threshold is the most
    lenient one that still flags each negative category's target share out of fold (grouped by source), raised
    where needed so that at most MAX_FLAGGED of each choosing set is flagged, for any reason."""
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
    limits = quality_limits(quality_measures(positive_images, skin_region=True),
                            [quality_measures(images, skin_region=True) for _, images in choosing.values()])
    provisional = InputGate(mean, scale, final.coef_[0].astype(np.float64), float(final.intercept_[0]),
                            GateSettings(threshold=1.0, **limits, skin_region=True))
    accepting = {name: accepting_threshold(provisional.scores(features),
                                           np.array([p is not None for p in provisional.problems(images)]))
                 for name, (features, images) in choosing.items()}
    refusing = operating_threshold(out_of_fold, categories)
    threshold = min(max(refusing, *accepting.values()), 1.0 - 1e-9)
    gate = replace(provisional, settings=replace(provisional.settings, threshold=threshold))
    tuning = {"choosing_sets": {name: summarise(gate.decide(*data)) for name, data in choosing.items()},
              "out_of_fold_flagged": {category: round(float((out_of_fold[categories == category]
                                                             >= threshold).mean()), 4)
                                      for category in FLAG_TARGETS if (categories == category).any()},
              "fitted_on_flagged": {category: round(float((gate.scores(negatives[categories == category])
                                                           >= threshold).mean()), 4)
                                    for category in FLAG_TARGETS if (categories == category).any()},
              "threshold_refusing": refusing, "threshold_accepting": accepting}
    return gate, tuning


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
    from skin_core.research.data import SPLITS, read_dataset

    parser = argparse.ArgumentParser(prog="python -m skin_core fit-gate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="bundle name in weights/ or folder")
    parser.add_argument("--release", required=True, metavar="NAME",
                        help="name of the new version written beside it (a released bundle is never rewritten)")
    parser.add_argument("--data", default=str(paths.ham10000_dir()), help="the bundle's training data folder")
    parser.add_argument("--ood", default=str(paths.shared_dir() / "data" / "ood_dev"),
                        help="labelled photos that are not dermoscopic (labels.csv: image_id, category, "
                             "source_repo, source_path)")
    parser.add_argument("--external", default=str(paths.shared_dir() / "data" / "external"),
                        help="folder of dermoscopic sets from other cameras, by role: " + ", ".join(
                            f"{name} ({role})" for name, role in EXTERNAL_SETS.items()))
    parser.add_argument("--cache", default=None, help="folder that keeps computed features between runs")
    args = parser.parse_args(argv)
    try:
        bundle = bundles.open_bundle(args.model)
        target = bundle.path.parent / args.release
        if target.exists():
            raise FileExistsError(f"{target} already exists; choose another --release name")
        sets = _feature_sets(bundle, args, read_dataset, SPLITS)
    except (FileNotFoundError, FileExistsError, ValueError, bundles.BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    ood = sets.pop("ood")
    tune = (ood.part == "tune").to_numpy()
    positives = [sets["ham_train"], sets["isic2017_train"]]
    choosing = {name: (sets[name].features, sets[name].images) for name in ("ham_val", "isic2017_val", "ph2")}
    gate, tuning = fit_gate(np.concatenate([s.features for s in positives]),
                            np.concatenate([s.images for s in positives]), choosing, ood.features[tune],
                            ood.categories[tune], ood.groups[tune])
    inside = {"internal_test": (sets["ham_test"].features, sets["ham_test"].images),
              "isic2017_test": (sets["isic2017_test"].features, sets["isic2017_test"].images)}
    outside = {category: (ood.features[~tune & (ood.categories == category)],
                          ood.images[~tune & (ood.categories == category)]) for category in FLAG_TARGETS}
    outside["A_clinical_logo_cropped"] = (sets["clinical_cropped"].features, sets["clinical_cropped"].images)
    report = gate_report(gate, inside, outside)
    report.update({
        **asdict(gate.settings), "targets": FLAG_TARGETS, "max_flagged": MAX_FLAGGED, "tuning": tuning,
        "tuned_on": {"in_distribution": f"HAM10000 training split ({len(sets['ham_train'].features)} photos) and "
                                        f"isic2017_train ({len(sets['isic2017_train'].features)})",
                     "threshold": "HAM10000 validation split, isic2017_val and ph2",
                     "out_of_distribution": f"{int(tune.sum())} photos of {paths.recorded(args.ood)}, half of "
                                            f"each category's sources",
                     "reported_on": f"the other {int((~tune).sum())}"},
        "latency_ms_median": decision_latency_ms(gate, sets["ham_test"].features, sets["ham_test"].images),
    })
    external = {name: {**result, **_gated(gate, sets[name], bundle.config.malignancy_threshold)}
                for name, result in bundle.metrics.get("external", {}).items() if name in sets}
    config = replace(bundle.config, name=args.release, version=time.strftime("%Y-%m-%d"),
                     supersedes=bundle.name, gate=gate.settings)
    config.validate(args.release)
    bundles.copy_for_new_version(bundle, target)
    gate.save(target)
    bundles.write_config(target, config)
    bundles.write_json(target / bundles.METRICS_FILE,
                       {**bundle.metrics, "gate": report, "external": {**bundle.metrics.get("external", {}),
                                                                       **external}})
    print(json.dumps(report, indent=2))
    print(f"New version written to {target}")
    return 0


# The dermoscopic sets from other cameras and what the gate does with each (see their README).
EXTERNAL_SETS = {"isic2017_train": "fitted on", "isic2017_val": "threshold chosen on",
                 "ph2": "threshold chosen on", "isic2017_test": "reported only"}


@dataclass(frozen=True)
class FeatureSet:
    """Photos as the bundle's gate sees them: pooled features, the resized images and, for labelled sets, the
    bundle's calibrated probabilities and rows."""

    features: np.ndarray
    images: np.ndarray
    probabilities: np.ndarray | None = None
    rows: pd.DataFrame | None = None


@dataclass(frozen=True)
class OodSet:
    features: np.ndarray
    images: np.ndarray
    categories: np.ndarray
    groups: np.ndarray
    part: pd.Series


def _feature_sets(bundle, args, read_dataset, splits) -> dict:
    """Every set the gate is fitted, chosen and reported on, through the bundle (an ensemble: its lead's
    features on the photos as the ensemble frames them, the ensemble's probabilities)."""
    from skin_core import bundle as bundles
    from skin_core.predictor import Predictor

    predictor = Predictor.from_bundle(bundle)
    lead = getattr(predictor, "members", [predictor])[0]
    cache = Path(args.cache) / bundle.name if args.cache else None

    def computed(key, rows, labelled=True):
        images = predictor.load_images(rows["path"]) if len(rows) else np.zeros((0, *predictor.input_size, 3))
        stored = cache / f"{key}.npz" if cache else None
        if stored is not None and stored.is_file():
            with np.load(stored) as kept:
                return FeatureSet(kept["features"], images, kept["probabilities"] if labelled else None, rows)
        print(f"Computing {key} ({len(rows)} photos) ...", flush=True)
        features = lead.frame_outputs(rows, images, ignore_metadata=True)[0].features
        reported = labelled and EXTERNAL_SETS.get(key, "fitted on") != "fitted on"  # answers only where reported
        probabilities = predictor.frame_outputs(rows)[0].probabilities if reported else None
        if stored is not None:
            stored.parent.mkdir(parents=True, exist_ok=True)
            np.savez(stored, features=features,
                     probabilities=probabilities if probabilities is not None else np.zeros(0))
        return FeatureSet(features, images, probabilities, rows)

    frame = read_dataset(args.data)
    split = pd.read_csv(bundle.path / bundles.SPLIT_FILE, dtype={"image_id": str})
    frame = frame.merge(split[["image_id", "split"]], on="image_id", how="inner")
    sets = {f"ham_{name}": computed(f"ham_{name}", frame[frame["split"] == name].reset_index(drop=True))
            for name in splits}
    for name in EXTERNAL_SETS:
        sets[name] = computed(name, read_dataset(Path(args.external) / name))
    labels = pd.read_csv(Path(args.ood) / "labels.csv", dtype={"image_id": str})
    paths_ = [next((Path(args.ood) / "images").glob(f"{image_id}.*")) for image_id in labels["image_id"]]
    ood = computed("ood", pd.DataFrame({"path": paths_}), labelled=False)
    part = split_ood(labels)
    clinical = [paths_[i] for i in np.flatnonzero((part == "report") & (labels["category"] == "A_clinical"))]
    # The clinical photos carry a logo in their lower part: the gate is also checked without it.
    cropped = np.stack([_top_part(path, predictor) for path in clinical])
    features = lead.predict_arrays(cropped, np.repeat(lead.encoder.encode()[None], len(cropped), axis=0)).features
    sets["clinical_cropped"] = FeatureSet(features, cropped)
    sets["ood"] = OodSet(ood.features, ood.images, labels["category"].to_numpy(), source_groups(labels).to_numpy(),
                         part)
    return sets


def _gated(gate: InputGate, photos: FeatureSet, malignancy_threshold: float) -> dict:
    """The gate's part of an external set's report (as skin_core.research.evaluate writes it) under ``gate``."""
    from skin_core.research.evaluate import frame_report

    decisions = gate.decide(photos.features, photos.images)
    accepted = np.array([not d.flagged for d in decisions])
    result = {"gate": summarise(decisions)}
    if accepted.any():
        result["accepted_only"] = frame_report(photos.rows[accepted].reset_index(drop=True),
                                               photos.probabilities[accepted], malignancy_threshold)
    return result


def _top_part(path: Path, predictor) -> np.ndarray:
    """The upper 60 % of a photo, as the predictor shows it to its model: the part above a bottom-corner logo."""
    photo = imaging.load_rgb(path)
    return imaging.resize(framed(photo[: int(photo.shape[0] * 0.6)], predictor.config.framing)[0],
                          predictor.input_size)


if __name__ == "__main__":
    sys.exit(main())
