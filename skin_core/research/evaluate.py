"""Evaluate a model bundle on any labelled folder in the HAM10000 format.

    python -m skin_core evaluate [--model <bundle>] --data <folder> [--labels <csv>] [--out report.json]

Prints one JSON report on stdout (see skin_core.metrics.evaluation_report). Empty or missing metadata
columns count as unknown, so a clinic can check a model on its own labelled photos before trusting it.
When the bundle has an input gate, the report also says how many photos it flags, by reason, and gives
the figures on the accepted photos alone (``accepted_only``) next to those on all photos.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from skin_core import imaging, paths
from skin_core.research.data import labels_of, read_dataset
from skin_core.gate import summarise
from skin_core.calibration import apply_temperature, expected_calibration_error
from skin_core.metrics import attention_in_lesion, evaluation_report


def evaluate(predictor, frame, images=None, ignore_metadata=False, masks_dir=None, tta=False) -> dict:
    """The report for ``frame`` (read_dataset rows); ``images`` may hold them already decoded and resized."""
    outputs, images = predictor.frame_outputs(frame, images, ignore_metadata=ignore_metadata, tta=tta)
    report = frame_report(frame, outputs.probabilities, predictor.threshold, outputs.heads, masks_dir)
    if predictor.gate is not None:
        decisions = predictor.gate.decide(outputs.features, images)
        report["gate"] = summarise(decisions)
        accepted = np.array([not d.flagged for d in decisions])
        if accepted.any():
            report["accepted_only"] = frame_report(frame[accepted].reset_index(drop=True),
                                                   outputs.probabilities[accepted], predictor.threshold)
    return report


def add_validation(report: dict, data, val_labels, raw_val, test_labels, raw_test, temperature, threshold) -> dict:
    """A bundle's metrics: the test ``report`` with what calibration did and the validation figures beside it
    (``raw_*`` are probabilities at temperature 1)."""
    val = evaluation_report(val_labels, apply_temperature(raw_val, temperature), threshold)
    return {**report, "split": "test", "data": paths.recorded(data),
            "ece_before_calibration": expected_calibration_error(raw_test, test_labels),
            "validation": {"balanced_accuracy": val["balanced_accuracy"], "macro_auc": val["macro_auc"],
                           "ece_before_calibration": expected_calibration_error(raw_val, val_labels),
                           "ece": val["ece"], "n": val["n"]}}


def image_only_summary(report: dict) -> dict:
    """The figures kept from a report made with every patient's details left empty."""
    summary = {key: report[key] for key in ("balanced_accuracy", "accuracy", "macro_auc", "macro_f1", "ece")}
    return {**summary, "per_class_recall": {code: v["recall"] for code, v in report["per_class"].items()}}


def frame_report(frame, probabilities, threshold, heads=None, masks_dir=None) -> dict:
    """evaluation_report for ``frame``'s labels, plus attention inside the lesion masks when given."""
    report = evaluation_report(labels_of(frame), probabilities, threshold)
    if heads is not None and masks_dir is not None:
        report["attention_in_lesion"] = _attention_in_lesion(heads, frame, Path(masks_dir))
    return report


def _attention_in_lesion(heads, frame, masks_dir: Path) -> dict:
    maps, masks = [], []
    for head, image_id in zip(heads, frame["image_id"]):
        mask_path = masks_dir / f"{image_id}_segmentation.png"
        if not mask_path.is_file():
            continue
        mask = imaging.load_rgb(mask_path)[..., 0] > 127
        maps.append(imaging.upscale_map(head.sum(axis=-1), mask.shape, normalise=False))
        masks.append(mask)
    return attention_in_lesion(maps, masks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core evaluate", description=__doc__.split("\n")[1])
    parser.add_argument("--model", default=None, help="bundle name in weights/ or folder (default: the default)")
    parser.add_argument("--data", required=True, help="folder with a metadata CSV and images/")
    parser.add_argument("--labels", default=None, help="labels CSV (default: the folder's metadata CSV)")
    parser.add_argument("--out", default=None, help="also write the report to this JSON file")
    parser.add_argument("--tta", action="store_true", help="average predictions over image flips")
    parser.add_argument("--record-external", metavar="NAME", default=None,
                        help="also store the report beside the bundle (reports/external-NAME.json) as its result "
                             "on NAME, a set of photos from other cameras that played no part in training (a "
                             "tuning set such as isic2017_val, or a report-only test set)")
    args = parser.parse_args(argv)

    from skin_core import bundle as bundles
    from skin_core.predictor import Predictor

    try:
        bundle = bundles.open_bundle(args.model)
        predictor = Predictor.from_bundle(bundle)
        frame = read_dataset(args.data, args.labels)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    masks = Path(args.data) / "masks"
    report = {"model": predictor.name, "data": paths.recorded(args.data),
              **evaluate(predictor, frame, masks_dir=masks if masks.is_dir() else None, tta=args.tta)}
    text = json.dumps(report, indent=2)
    if args.record_external:
        bundles.write_report(bundle, bundles.EXTERNAL_REPORT.format(args.record_external), {
            key: report[key] for key in ("data", "n", "accuracy", "balanced_accuracy", "macro_auc", "macro_f1",
                                         "per_class", "malignant", "ece", "gate", "accepted_only") if key in report})
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
