"""Ensemble bundles: the average of several bundles' calibrated probabilities, calibrated again on validation.

    python -m skin_core ensemble --members mobilenetv2 efficientnetlite0 --name ensemble-mobilenetv2-lite0

The members must share one lesion-grouped split (their split.csv), so that the ensemble's temperature and
malignancy threshold come from the validation photos none of them trained on and its report from the same
untouched test photos. With ``--exposure-margin`` (the default) the malignancy threshold must also keep its
target sensitivity on the validation photos made 15 % darker and 15 % paler (skin_core.research.robustness), so that
another clinic's camera or light does not undo it. The ensemble bundle holds no model: config.json names its
members (the first one leads: its attention map and input gate are shown), metrics.json holds its own report,
split.csv the shared split.

    python -m skin_core ensemble --members efficientnetlite2-224 --name efficientnetlite2-224-framed --framing

With ``--framing`` every photo is first cropped around its lesion (skin_core.framing) before the members see
it; a framed bundle may have a single member: a trained model with its own temperature, threshold and report,
all measured on the framed photos.
"""

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.research import hardware
from skin_core.bundle import EnsembleConfig, TrainingRecord
from skin_core.calibration import apply_temperature, fit_temperature
from skin_core.research.data import SPLITS, labels_of, read_dataset
from skin_core.research.evaluate import add_validation, evaluate, frame_report, image_only_summary
from skin_core.framing import Framing
from skin_core.research.model_card import ham10000_card
from skin_core.predictor import CalibratedEnsemble, Predictor
from skin_core.research.operating_point import choose_operating_point


def shared_split(members: list) -> pd.DataFrame:
    """The members' common split; members trained on different splits cannot be calibrated together."""
    splits = [pd.read_csv(m.path / bundles.SPLIT_FILE, dtype={"image_id": str}).sort_values("image_id")
              .reset_index(drop=True)[["image_id", "split"]] for m in members]
    for member, split in zip(members[1:], splits[1:]):
        if not split.equals(splits[0]):
            raise ValueError(f"{member.name} was trained on another split than {members[0].name}; an ensemble "
                             f"needs members that share one (train them with --split).")
    return splits[0]


def build_ensemble(member_names: list, name: str, display_name: str = "", data=None, weights_dir=None,
                   target_sensitivity=0.90, confidence=0.95, exposure_margin=True, framing: Framing | None = None) -> Path:
    weights_dir = Path(weights_dir or paths.weights_dir())
    if len(member_names) < (1 if framing else 2):
        raise ValueError(f"An ensemble needs at least two members (one when it frames the photos), got "
                         f"{member_names!r}.")
    out = weights_dir / name
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another --name.")
    started = time.time()
    members = [bundles.open_bundle(m, weights_dir) for m in member_names]
    data = Path(data or paths.ham10000_dir())
    frame = read_dataset(data).merge(shared_split(members), on="image_id", how="inner")
    parts = {part: frame[frame["split"] == part].reset_index(drop=True) for part in SPLITS}
    lead = members[0].config
    member_predictors = [Predictor.from_bundle(m) for m in members]
    member_models = [predictor.calibrated for predictor in member_predictors]
    averaged = CalibratedEnsemble(member_models, 1.0, framing)  # the members' mean as it is: temperature 1
    outputs = {part: averaged.frame_outputs(parts[part])[0] for part in ("val", "test")}
    raw = {part: outputs[part].probabilities for part in outputs}
    labels = {part: labels_of(parts[part]) for part in ("val", "test")}
    temperature = fit_temperature(raw["val"], labels["val"])
    calibrated = CalibratedEnsemble(member_models, temperature, framing)
    threshold, point = choose_operating_point(calibrated, parts["val"], apply_temperature(raw["val"], temperature),
                                              target_sensitivity, confidence, exposure_margin)
    config = EnsembleConfig(
        name=name, version=time.strftime("%Y-%m-%d"), input_size=lead.input_size,
        metadata=any(m.config.metadata for m in members), soft_attention=lead.soft_attention,
        weighted_loss=all(m.config.weighted_loss for m in members),
        colour_constancy=any(m.config.colour_constancy for m in members), age_normalisation=lead.age_normalisation,
        temperature=temperature, malignancy_threshold=threshold, operating_point=point, model_card=ham10000_card(),
        intended_use="clinical" if all(m.config.clinical for m in members) else "research",
        display_name=display_name or " + ".join(m.config.display_name or m.name for m in members),
        training=TrainingRecord(arguments={"members": list(member_names), "target_sensitivity": target_sensitivity,
                                           "sensitivity_confidence": confidence,
                                           "exposure_margin": exposure_margin, "framing": framing is not None},
                                epochs_run=0, wall_time_s=0.0, total_wall_time_s=0.0, hardware=hardware.describe()),
        parameters=sum(m.config.parameters for m in members), members=tuple(member_names), framing=framing)
    predictor = Predictor(calibrated, config, name, member_predictors[0].gate)  # the lead's gate until it has one
    masks = data / "masks"
    report = frame_report(parts["test"], apply_temperature(raw["test"], temperature), threshold,
                          outputs["test"].heads, masks if masks.is_dir() else None)
    report = add_validation(report, data, labels["val"], raw["val"], labels["test"], raw["test"], temperature,
                            threshold)
    if "gate" in members[0].metrics and framing is None:  # the same gate on the same features: the lead's hold
        report["gate"] = members[0].metrics["gate"]
    if config.metadata:
        report["image_only"] = image_only_summary(evaluate(predictor, parts["test"], ignore_metadata=True))
    seconds = round(time.time() - started, 1)
    out.mkdir(parents=True)
    shutil.copy(members[0].path / bundles.SPLIT_FILE, out / bundles.SPLIT_FILE)
    bundles.write_config(out, replace(config, training=replace(config.training, wall_time_s=seconds,
                                                               total_wall_time_s=seconds)))
    bundles.write_json(out / bundles.METRICS_FILE, report)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core ensemble", description=__doc__.split("\n")[0])
    parser.add_argument("--members", nargs="+", required=True, help="bundle names in weights/; the first leads")
    parser.add_argument("--name", required=True, help="the ensemble's folder name in weights/")
    parser.add_argument("--display-name", default="", help="what a doctor reads in the model list")
    parser.add_argument("--data", default=None, help="HAM10000-format folder (default: ../shared copy)")
    parser.add_argument("--exposure-margin", action=argparse.BooleanOptionalAction, default=True,
                        help="the malignancy threshold also holds on 15 %% darker / paler validation photos")
    parser.add_argument("--framing", action="store_true",
                        help="crop each photo around its lesion first (skin_core.framing); allows a single member")
    args = parser.parse_args(argv)
    try:
        out = build_ensemble(args.members, args.name, args.display_name, args.data,
                             exposure_margin=args.exposure_margin, framing=Framing() if args.framing else None)
    except (FileNotFoundError, FileExistsError, ValueError, bundles.BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Ensemble bundle written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
