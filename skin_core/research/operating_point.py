"""Choose a trained bundle's malignancy threshold again and release the result as a new version of it.

    python -m skin_core operating-point --model <bundle> --out <new bundle name> [--tuning isic2017_val ph2]
        [--data <HAM10000 folder>] [--no-exposure-margin]

The threshold keeps the target malignant sensitivity on the bundle's own HAM10000 validation photos with a
margin: its lower Wilson bound must reach the target, also on those photos 15 % darker and 15 % paler (the
exposure margin, measured as skin_core.research.robustness measures steadiness). With ``--tuning``, the tuning sets from other cameras
(``../shared/data/external/<name>``; selection.TUNING_SETS) may lower it further: the point estimate of the
sensitivity on their pooled melanomas (melanoma against the rest: they hold no other malignant class) must
reach the target too. Their few melanomas cannot carry the Wilson rule, so its bound is only reported.

A released bundle is never rewritten, since saved cases name it: the bundle is copied to ``--out`` with the
new threshold, today's version and ``supersedes`` naming the old one (the app then offers only the new one).
The test split and every external set recorded in metrics.json are measured again at the new threshold: their
``malignant`` figures change, nothing else. Nothing is written unless every figure could be measured.
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from skin_core import bundle as bundles
from skin_core import imaging, paths
from skin_core.research.data import labels_of, read_dataset
from skin_core.research.evaluate import evaluate
from skin_core.classes import MALIGNANT_INDICES
from skin_core.metrics import evaluation_report, malignancy_threshold, wilson_lower_bound
from skin_core.research.robustness import (DARKER, WASHED_OUT, degraded, photo_details, photo_probabilities,
                                          split_rows)


# The exposure changes an operating point must survive: another camera or light, within 15 %.
EXPOSURE_MARGIN = ((DARKER, 0.85), (WASHED_OUT, 0.85))


def exposure_margin_threshold(predictor, photos: list, details: list, labels, sensitivity: float,
                              confidence: float | None) -> float:
    """The highest malignancy threshold that keeps ``sensitivity`` (its lower Wilson bound at ``confidence``)
    on each EXPOSURE_MARGIN change of these validation photos, with the predictor's calibrated probabilities."""
    return min(malignancy_threshold(photo_probabilities(predictor, [degraded(p, change, level) for p in photos],
                                                        details), labels, sensitivity, confidence)
               for change, level in EXPOSURE_MARGIN)


def choose_operating_point(predictor, rows: pd.DataFrame, probabilities: np.ndarray, sensitivity: float,
                           confidence: float | None,
                           exposure_margin: bool = True) -> tuple[float, bundles.OperatingPoint]:
    """The malignancy threshold for validation ``rows`` (read_dataset rows) whose calibrated
    ``probabilities`` the predictor gave: the one the photos as they are give, lowered with ``exposure_margin``
    to the one that also holds on them 15 % darker and 15 % paler, so that another clinic's camera or light
    does not push the sensitivity below the target."""
    labels = labels_of(rows)
    as_is = malignancy_threshold(probabilities, labels, sensitivity, confidence)
    threshold = as_is
    if exposure_margin:
        photos = [imaging.load_rgb(path) for path in rows["path"]]
        threshold = min(as_is, exposure_margin_threshold(predictor, photos, photo_details(rows), labels,
                                                         sensitivity, confidence))
    point = bundles.OperatingPoint(target_sensitivity=sensitivity, confidence=confidence,
                                   exposure_margin=exposure_margin, threshold_as_is=as_is,
                                   date=time.strftime("%Y-%m-%d"))
    return threshold, point


def _external_folder(name: str, recorded: str | None = None) -> Path:
    folder = paths.located(recorded) if recorded else paths.shared_dir() / "data" / "external" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"the set {name!r} is not at {folder}; its figures at the new threshold cannot be "
                                f"measured, so nothing was written. Set SKIN_SHARED_DIR to the folder that holds it.")
    return folder


def refreshed_metrics(predictor, metrics: dict, test_rows) -> dict:
    """``metrics`` with the malignant figures of the test split and of each recorded external set measured
    again at the predictor's threshold."""
    test = predictor.frame_outputs(test_rows)[0].probabilities
    metrics = {**metrics, "malignant": evaluation_report(labels_of(test_rows), test, predictor.threshold)["malignant"]}
    external = {}
    for name, recorded in metrics.get("external", {}).items():
        report = evaluate(predictor, read_dataset(_external_folder(name, recorded["data"])))
        updated = {**recorded, "malignant": report["malignant"]}
        if "accepted_only" in recorded and "accepted_only" in report:
            updated["accepted_only"] = {**recorded["accepted_only"], "malignant": report["accepted_only"]["malignant"]}
        external[name] = updated
    return {**metrics, "external": external} if external else metrics


def tuning_threshold(predictor, names, sensitivity: float) -> tuple[float, np.ndarray, np.ndarray]:
    """The highest threshold whose melanoma sensitivity on the pooled tuning sets reaches ``sensitivity`` (point
    estimate), with the pooled probabilities and labels it was chosen on."""
    frames = [read_dataset(_external_folder(name)) for name in names]
    probabilities = np.concatenate([predictor.frame_outputs(frame)[0].probabilities for frame in frames])
    labels = np.concatenate([labels_of(frame) for frame in frames])
    return malignancy_threshold(probabilities, labels, sensitivity), probabilities, labels


def tuning_record(names, threshold: float, alone: float, probabilities, labels, confidence: float) -> dict:
    """What the tuning sets say at the chosen ``threshold``: melanomas caught and the lower Wilson bound."""
    report = evaluation_report(labels, probabilities, threshold)["malignant"]
    melanomas = int(np.isin(labels, MALIGNANT_INDICES).sum())  # all melanomas: the sets hold no bcc or akiec
    caught = round(report["sensitivity"] * melanomas)
    return {"sets": list(names), "melanomas": melanomas, "threshold_alone": round(alone, 6),
            "sensitivity": report["sensitivity"], "specificity": report["specificity"],
            "wilson_lower_bound": round(float(wilson_lower_bound(caught, melanomas, confidence)), 6)}


def new_version(bundle_name: str, out: str, data=None, tuning=(), exposure_margin: bool = True,
                sensitivity: float = 0.90, confidence: float = 0.95, weights_dir=None) -> dict:
    """Release ``bundle_name`` with a threshold chosen again as ``out`` in the same weights folder; returns what
    changed."""
    from skin_core.predictor import Predictor

    if not 0 < sensitivity < 1 or not 0 < confidence < 1:
        raise ValueError(f"the target sensitivity and the confidence must lie strictly between 0 and 1, got "
                         f"{sensitivity!r} and {confidence!r}.")
    bundle = bundles.open_bundle(bundle_name, weights_dir)
    target = bundle.path.parent / out
    if not out or Path(out).name != out or target.exists():
        raise ValueError(f"--out must name a new bundle folder beside {bundle.name}, got {out!r} (a released bundle "
                         f"is never rewritten).")
    data = Path(data or paths.ham10000_dir())
    predictor = Predictor.from_bundle(bundle)
    validation = split_rows(bundle, data, "val")
    if validation.empty:
        raise ValueError(f"none of {bundle.name}'s validation photos are in {data}; pass the folder it was "
                         f"trained on with --data.")
    probabilities = predictor.frame_outputs(validation)[0].probabilities
    threshold, point = choose_operating_point(predictor, validation, probabilities, sensitivity, confidence,
                                              exposure_margin)
    if tuning:
        alone, pooled, labels = tuning_threshold(predictor, tuning, sensitivity)
        threshold = min(threshold, alone)
        point = replace(point, tuning=tuning_record(tuning, threshold, alone, pooled, labels, confidence))
    config = replace(bundle.config, name=out, version=time.strftime("%Y-%m-%d"), malignancy_threshold=threshold,
                     operating_point=point, supersedes=bundle.name)
    released = Predictor(predictor.calibrated, config, out, predictor.gate)
    metrics = refreshed_metrics(released, bundle.metrics, split_rows(bundle, data, "test"))
    bundles.copy_for_new_version(bundle, target)
    bundles.write_config(target, config)
    bundles.write_json(target / bundles.METRICS_FILE, metrics)
    return {"model": out, "supersedes": bundle.name, "threshold_before": round(bundle.config.malignancy_threshold, 6),
            "threshold": round(threshold, 6), "threshold_as_is": round(point.threshold_as_is, 6),
            "target_sensitivity": sensitivity, "confidence": confidence, "exposure_margin": exposure_margin,
            "tuning": point.tuning, "test_malignant": metrics["malignant"],
            "external_malignant": {name: e["malignant"] for name, e in metrics.get("external", {}).items()}}


def main(argv=None) -> int:
    from skin_core.paths import TUNING_SETS

    parser = argparse.ArgumentParser(prog="python -m skin_core operating-point", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="bundle name in weights/ or folder")
    parser.add_argument("--out", required=True, help="name of the new version's folder, beside the bundle")
    parser.add_argument("--tuning", nargs="*", default=list(TUNING_SETS),
                        help="tuning sets in ../shared/data/external that may lower the threshold (none: validation only)")
    parser.add_argument("--data", default=None, help="the bundle's training data folder (default: ../shared copy)")
    parser.add_argument("--exposure-margin", action=argparse.BooleanOptionalAction, default=True,
                        help="the threshold also holds on the validation photos 15 %% darker and 15 %% paler")
    parser.add_argument("--target-sensitivity", type=float, default=0.90, help="malignant sensitivity to keep")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="the lower Wilson bound at this confidence must reach the target on validation")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(new_version(args.model, args.out, args.data, tuple(args.tuning), args.exposure_margin,
                                     args.target_sensitivity, args.confidence), indent=2))
    except (FileNotFoundError, ValueError, bundles.BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
