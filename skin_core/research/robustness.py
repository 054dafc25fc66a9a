"""How steady a model's answer stays when a photo's exposure or focus changes, as another dermatoscope, its
light or a hurried photo would change it: a check on a bundle's own validation photos that needs no photos
from other clinics.

    python -m skin_core robustness [--model <bundle>] [--data <HAM10000 folder>] [--photos 300]

Each photo is darkened (brightness times 0.85, 0.7, 0.55), washed out (its distance to white times 0.85, 0.7)
blurred (Gaussian sigma 1 and 2 pixels of the photo as stored; HAM10000: the 200x150 copy) and shown from
further away (shrunk to 0.6 and 0.4 of its side on its own skin colour, as a wider-field dermatoscope frames
the lesion; skin_core.framing). Printed per
change: the share of photos whose most likely diagnosis stays the one given on the intact photo, and the share
whose malignancy alert (at the bundle's threshold) stays the same. A model whose answer moves with a 15 %
change of exposure will move on another clinic's camera too.
"""

import argparse
import json
import sys

import cv2
import numpy as np
import pandas as pd

from skin_core import bundle as bundles
from skin_core import imaging, paths
from skin_core.research.data import labels_of, read_dataset
from skin_core.framing import farther
from skin_core.classes import malignant_scores
from skin_core.metrics import evaluation_report

DARKER, WASHED_OUT, BLURRED, FARTHER = "darker", "washed_out", "blurred", "farther"
CHANGES = ((DARKER, 0.85), (DARKER, 0.7), (DARKER, 0.55), (WASHED_OUT, 0.85), (WASHED_OUT, 0.7),
           (BLURRED, 1.0), (BLURRED, 2.0), (FARTHER, 0.6), (FARTHER, 0.4))


def degraded(photo: np.ndarray, change: str, level: float) -> np.ndarray:
    """A uint8 RGB photo darkened (brightness times ``level``), washed out (the distance to white times
    ``level``), blurred (Gaussian sigma ``level`` pixels) or shown farther away (``level`` of its side)."""
    if change == FARTHER:
        return farther(photo, level)
    x = photo.astype(np.float32)
    if change == DARKER:
        x = x * level
    elif change == WASHED_OUT:
        x = 255.0 - (255.0 - x) * level
    elif change == BLURRED:
        x = cv2.GaussianBlur(x, (0, 0), level)
    else:
        raise ValueError(f"change must be {DARKER!r}, {WASHED_OUT!r}, {BLURRED!r} or {FARTHER!r}, got {change!r}.")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def photo_probabilities(predictor, photos: list, details: list) -> np.ndarray:
    """(N, 7) probabilities (at the predictor's temperature) for decoded photos and their (age, sex, site)."""
    return np.concatenate([predictor.photo_outputs(photo, detail)[0].probabilities
                           for photo, detail in zip(photos, details)])


def photo_details(rows: pd.DataFrame) -> list:
    """(age, sex, site) per read_dataset row, an unknown age as None."""
    return [(None if pd.isna(age) else age, sex, site)
            for age, sex, site in zip(rows["age"], rows["sex"], rows["localization"])]


def answers(predictor, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most likely class index and the malignancy alert for each photo's calibrated probabilities."""
    return probabilities.argmax(axis=1), malignant_scores(probabilities) >= predictor.threshold


def stability(predictor, photos: list, details: list, changes=CHANGES, labels=None) -> dict:
    """Per change ("darker x0.85", ...): the share of photos whose top diagnosis and whose malignancy alert stay
    what they are on the intact photo. With ``labels`` (class indices), also the balanced accuracy and melanoma
    recall on the changed photos, and on the intact ones under "as is"."""
    probabilities = photo_probabilities(predictor, photos, details)
    top, alert = answers(predictor, probabilities)
    report = {} if labels is None else {"as is": _accuracy(labels, probabilities, predictor.threshold)}
    for change, level in changes:
        changed = photo_probabilities(predictor, [degraded(p, change, level) for p in photos], details)
        changed_top, changed_alert = answers(predictor, changed)
        report[f"{change} x{level:g}"] = {"same_top": round(float((changed_top == top).mean()), 4),
                                          "same_alert": round(float((changed_alert == alert).mean()), 4),
                                          **({} if labels is None else _accuracy(labels, changed, predictor.threshold))}
    return report


def _accuracy(labels, probabilities, threshold) -> dict:
    report = evaluation_report(labels, probabilities, threshold)
    return {"balanced_accuracy": report["balanced_accuracy"], "melanoma_recall": report["per_class"]["mel"]["recall"]}


def split_rows(bundle, data, part: str = "val") -> pd.DataFrame:
    """The bundle's photos of one part of its split (read_dataset rows), from its split.csv."""
    split = pd.read_csv(bundle.path / bundles.SPLIT_FILE, dtype={"image_id": str})
    frame = read_dataset(data).merge(split[["image_id", "split"]], on="image_id", how="inner")
    return frame[frame["split"] == part].reset_index(drop=True)


def main(argv=None) -> int:
    from skin_core.predictor import Predictor

    parser = argparse.ArgumentParser(prog="python -m skin_core robustness", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="bundle name in weights/ or folder (default: the default)")
    parser.add_argument("--data", default=str(paths.ham10000_dir()), help="the bundle's training data folder")
    parser.add_argument("--photos", type=int, default=300, help="validation photos to use (a fixed random draw)")
    parser.add_argument("--changes", nargs="+", choices=(DARKER, WASHED_OUT, BLURRED, FARTHER), default=None,
                        help="only these kinds of change (default: all)")
    args = parser.parse_args(argv)
    if args.photos < 1:
        parser.error(f"--photos must be at least 1, got {args.photos}")
    try:
        bundle = bundles.open_bundle(args.model)
        predictor = Predictor.from_bundle(bundle)
        rows = split_rows(bundle, args.data)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = rows.iloc[np.random.default_rng(0).permutation(len(rows))[:args.photos]]
    photos = [imaging.load_rgb(path) for path in rows["path"]]
    changes = [(change, level) for change, level in CHANGES if args.changes is None or change in args.changes]
    print(json.dumps({"model": bundle.name, "photos": len(photos), "split": "validation",
                      "changes": stability(predictor, photos, photo_details(rows), changes, labels_of(rows))},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
