"""Choose a trained bundle's malignancy threshold again, on its own validation photos, and refresh every
figure that depends on it.

    python -m skin_core.operating_point --model <bundle> [--data <HAM10000 folder>] [--no-exposure-margin]

For bundles whose threshold was chosen before the exposure margin existed (skin_core.robustness): the new
threshold keeps the target sensitivity on the validation photos as they are and 15 % darker and 15 % paler.
Only validation photos choose it; the test split and the external sets recorded in metrics.json (``external``,
read again from the folders recorded there) are then re-measured at it: their ``malignant`` figures change,
nothing else. config.json records how the threshold was chosen (``operating_point``). Nothing is written
unless every figure could be measured again.
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.data import labels_of, read_dataset
from skin_core.evaluate import evaluate
from skin_core.metrics import evaluation_report
from skin_core.robustness import choose_operating_point, split_rows


def refreshed_metrics(predictor, metrics: dict, test_rows) -> dict:
    """``metrics`` with the malignant figures of the test split and of each recorded external set measured
    again at the predictor's threshold."""
    test = predictor.frame_outputs(test_rows)[0].probabilities
    metrics = {**metrics, "malignant": evaluation_report(labels_of(test_rows), test, predictor.threshold)["malignant"]}
    external = {}
    for name, recorded in metrics.get("external", {}).items():
        folder = paths.located(recorded["data"])
        if not folder.is_dir():
            raise FileNotFoundError(f"the external set {name!r} recorded in metrics.json is not at {folder}; its "
                                    f"figures at the new threshold cannot be measured, so nothing was changed. "
                                    f"Set SKIN_SHARED_DIR to the folder that holds {recorded['data']}.")
        report = evaluate(predictor, read_dataset(folder))
        updated = {**recorded, "malignant": report["malignant"]}
        if "accepted_only" in recorded and "accepted_only" in report:
            updated["accepted_only"] = {**recorded["accepted_only"], "malignant": report["accepted_only"]["malignant"]}
        external[name] = updated
    return {**metrics, "external": external} if external else metrics


def recalibrate(bundle_name: str, data=None, exposure_margin: bool = True, sensitivity: float = 0.90,
                confidence: float | None = 0.95, weights_dir=None) -> dict:
    """Re-choose ``bundle_name``'s operating point and rewrite its config and metrics; returns what changed."""
    from skin_core.predictor import Predictor

    if not 0 < sensitivity < 1 or not (confidence is None or 0 < confidence < 1):
        raise ValueError(f"the target sensitivity and the confidence must lie strictly between 0 and 1, got "
                         f"{sensitivity!r} and {confidence!r}.")
    bundle = bundles.open_bundle(bundle_name, weights_dir)
    data = Path(data or paths.ham10000_dir())
    predictor = Predictor.from_bundle(bundle)
    validation = split_rows(bundle, data, "val")
    if validation.empty:
        raise ValueError(f"none of {bundle.name}'s validation photos are in {data}; pass the folder it was "
                         f"trained on with --data.")
    probabilities = predictor.frame_outputs(validation)[0].probabilities
    threshold, point = choose_operating_point(predictor, validation, probabilities, sensitivity, confidence,
                                              exposure_margin)
    before = bundle.config.malignancy_threshold
    predictor.config = config = replace(bundle.config, malignancy_threshold=threshold, operating_point=point)
    metrics = refreshed_metrics(predictor, bundle.metrics, split_rows(bundle, data, "test"))
    bundles.write_config(bundle.path, config)
    bundles.write_json(bundle.path / bundles.METRICS_FILE, metrics)
    return {"model": bundle.name, "threshold_before": round(before, 6), "threshold": round(threshold, 6),
            "threshold_as_is": round(point.threshold_as_is, 6), "target_sensitivity": sensitivity,
            "confidence": confidence, "exposure_margin": exposure_margin,
            "test_malignant": metrics["malignant"],
            "external_malignant": {name: e["malignant"] for name, e in metrics.get("external", {}).items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core.operating_point", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="bundle name in weights/ or folder")
    parser.add_argument("--data", default=None, help="the bundle's training data folder (default: ../shared copy)")
    parser.add_argument("--exposure-margin", action=argparse.BooleanOptionalAction, default=True,
                        help="the threshold also holds on the validation photos 15 %% darker and 15 %% paler")
    parser.add_argument("--target-sensitivity", type=float, default=0.90, help="malignant sensitivity to keep")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="the lower Wilson bound at this confidence must reach the target (as training does)")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(recalibrate(args.model, args.data, args.exposure_margin, args.target_sensitivity,
                                     args.confidence), indent=2))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
