"""Every bundle's answers on the shipped example photos, to show that a change of code changed no answer.

    python -m tools.answers --out before.json          # on the old code
    python -m tools.answers --out after.json           # on the new code
    python -m tools.answers --compare before.json after.json

An answer is what a doctor sees from ``Predictor.predict``: the probabilities (6 decimals), the malignant sum and
threshold, the alert, low confidence, the input gate's verdict and the attention map's total.
"""

import argparse
import json
import sys

import pandas as pd

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.predictor import load_predictor

EXAMPLES = paths.REPO_DIR / "assets" / "examples"


def answers(weights_dir=None) -> dict:
    """bundle name -> example -> its answer, for every usable bundle in weights/."""
    rows = pd.read_csv(EXAMPLES / "examples.csv")
    result = {}
    for name in bundles.list_bundles(weights_dir):
        predictor = load_predictor(bundles.resolve(name, weights_dir))
        result[name] = {}
        for row in rows.itertuples():
            age = None if pd.isna(row.age) else row.age
            answer = predictor.predict(EXAMPLES / f"{row.dx}.jpg", age=age, sex=row.sex, site=row.localization)
            result[name][row.dx] = {
                "probabilities": {code: round(p, 6) for code, p in answer.probabilities.items()},
                "malignant_probability": round(answer.malignant_probability, 6),
                "malignancy_threshold": answer.malignancy_threshold, "alert": answer.malignancy_alert,
                "low_confidence": answer.low_confidence,
                "gate": None if answer.gate is None else [answer.gate.reason, answer.gate.problem,
                                                          round(answer.gate.score, 6)],
                "attention_sum": None if answer.attention is None else round(float(answer.attention.sum()), 3)}
    return result


def differences(before: dict, after: dict) -> list[str]:
    """What differs, one line per bundle and example (a bundle added or removed counts)."""
    lines = [f"{name}: only in one of the two" for name in sorted(set(before) ^ set(after))]
    for name in sorted(set(before) & set(after)):
        lines += [f"{name} / {example}: {before[name].get(example)} -> {after[name].get(example)}"
                  for example in sorted(set(before[name]) | set(after[name]))
                  if before[name].get(example) != after[name].get(example)]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.answers", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", help="write every bundle's answers to this JSON file")
    group.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two such files")
    args = parser.parse_args(argv)
    if args.out:
        found = answers()
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(found, out, indent=1, sort_keys=True)
        print(f"{sum(map(len, found.values()))} answers of {len(found)} bundles written to {args.out}")
        return 0
    with open(args.compare[0], encoding="utf-8") as before, open(args.compare[1], encoding="utf-8") as after:
        first, second = json.load(before), json.load(after)
    lines = differences(first, second)
    print("\n".join(lines) if lines else f"no answer differs ({sum(map(len, first.values()))} compared)")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
