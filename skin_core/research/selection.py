"""The rule that chooses the default model: HAM10000 validation *and* photos from other cameras.

    python -m skin_core select [--weights <folder>] [--json] [--set-default]

HAM10000 validation alone ranks bundles only loosely on photos from other dermatoscopes, so the rule weighs
three figures equally (docs/models.md, "Choosing the default"):

1. balanced accuracy on the bundle's own HAM10000 validation split;
2. balanced accuracy over the classes present on each tuning set (``isic2017_val``, ``ph2``), averaged with
   equal weight per set;
3. melanoma recall pooled over the tuning sets' melanomas (each melanoma counts once).

Only clinical bundles (the newest version of each) within the latency budget (``LATENCY_BUDGET_MS``, measured by ``skin_core.research.bench`` on
the serving CPU) and whose model files are each under ``FILE_LIMIT_MB`` can be chosen; a bundle without
figures on both tuning sets cannot be ranked. Scores closer than ``TIE_MARGIN`` to the best count as a tie,
broken by latency (the faster model serves more doctors per PC). ``isic2017_test`` never takes part.
"""

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from skin_core import bundle as bundles
from skin_core.paths import TUNING_SETS
from skin_core.bundle import Bundle

LATENCY_BUDGET_MS = {"single": 50.0, "ensemble": 120.0}
FILE_LIMIT_MB = 30.0
TIE_MARGIN = 0.02  # about the standard error of balanced accuracy on the 346 tuning photos


@dataclass(frozen=True)
class Candidate:
    """One bundle's figures under the rule; ``score`` is None and ``excluded`` says why when it cannot win."""

    name: str
    display_name: str
    ham_validation: float | None
    tuning_balanced_accuracy: float | None
    tuning_melanoma_recall: float | None
    tuning_melanomas: int
    latency_ms: float | None
    largest_file_mb: float
    score: float | None
    excluded: str = ""


def tuning_figures(external: dict) -> tuple[float | None, float | None, int]:
    """Mean balanced accuracy over the tuning sets, pooled melanoma recall and the melanoma count, or
    (None, None, 0) unless every tuning set was measured; ``external``: set name -> SetReport."""
    if any(name not in external for name in TUNING_SETS):
        return None, None, 0
    reports = [external[name] for name in TUNING_SETS]
    balanced = sum(report.balanced_accuracy for report in reports) / len(reports)
    melanomas = [report.per_class["mel"] for report in reports]
    count = sum(row.support for row in melanomas)
    found = sum(row.recall * row.support for row in melanomas if row.support)
    return balanced, (found / count if count else None), count


def _model_files(bundle: Bundle) -> list[Path]:
    members = bundles.open_members(bundle) if bundle.config.is_ensemble else [bundle]
    return [member.path / bundles.MODEL_FILE for member in members]


def candidate(bundle: Bundle, superseded_by: str = "") -> Candidate:
    """``bundle`` measured against the rule (``superseded_by``: the newer version that replaces it)."""
    config, report = bundle.config, bundle.report
    ham = report.validation.balanced_accuracy if report and report.validation else None
    balanced, melanoma, count = tuning_figures(report.external if report else {})
    latency = bundle.benchmark.latency_ms_median if bundle.benchmark else None
    largest = max(path.stat().st_size for path in _model_files(bundle)) / 2 ** 20
    budget = LATENCY_BUDGET_MS["ensemble" if config.is_ensemble else "single"]
    if not config.clinical:
        excluded = "research bundle"
    elif superseded_by:
        excluded = f"replaced by {superseded_by}"
    elif ham is None or balanced is None or melanoma is None:
        excluded = "not measured on HAM10000 validation and both tuning sets"
    elif latency is None or latency > budget:
        excluded = f"latency {latency} ms is over the {budget:g} ms budget" if latency else "no benchmark"
    elif largest >= FILE_LIMIT_MB:
        excluded = f"a model file of {largest:.1f} MB (limit {FILE_LIMIT_MB:g} MB)"
    else:
        excluded = ""
    score = (ham + balanced + melanoma) / 3 if None not in (ham, balanced, melanoma) else None
    return Candidate(bundle.name, config.display_name or bundle.name, ham, balanced, melanoma, count, latency,
                     round(largest, 2), None if score is None else round(score, 4), excluded)


def ranking(weights_dir=None) -> list[Candidate]:
    """Every usable bundle, eligible ones first by score, then the others by score."""
    usable = bundles.scan(weights_dir)[0]
    newer = {b.config.supersedes: b.name for b in usable if b.config.supersedes}
    found = [candidate(bundle, newer.get(bundle.name, "")) for bundle in usable]
    return sorted(found, key=lambda c: (bool(c.excluded), -(c.score if c.score is not None else -1), c.name))


def choose(candidates: list[Candidate]) -> Candidate:
    """The rule's pick: the fastest of the eligible bundles scoring within TIE_MARGIN of the best."""
    eligible = [c for c in candidates if not c.excluded]
    if not eligible:
        raise ValueError("no clinical bundle has HAM10000 validation and tuning-set figures within the budgets; "
                         "measure them with python -m skin_core evaluate --record-external (docs/models.md).")
    best = max(c.score for c in eligible)
    tied = [c for c in eligible if c.score >= best - TIE_MARGIN]
    return min(tied, key=lambda c: (c.latency_ms, -c.score))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core select", description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="bundle folder (default: weights/)")
    parser.add_argument("--json", action="store_true", help="print the ranking as JSON")
    parser.add_argument("--set-default", action="store_true",
                        help="make the rule's pick the default of weights/catalogue.json (released, if it was not)")
    args = parser.parse_args(argv)
    candidates = ranking(args.weights)
    try:
        chosen = choose(candidates)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.set_default:
        try:
            catalogue = bundles.read_catalogue(args.weights)
        except bundles.BundleError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        released, names = (catalogue.released, catalogue.names) if catalogue else ((), {})
        if chosen.name not in released:  # released under its display name until someone translates it
            display = bundles.open_bundle(chosen.name, args.weights).config.display_name or chosen.name
            released = released + (chosen.name,)
            names = {**names, chosen.name: dict.fromkeys(bundles.LANGUAGES, display)}
        bundles.write_catalogue(bundles.Catalogue(chosen.name, released, names), args.weights)
    if args.json:
        print(json.dumps({"chosen": chosen.name, "ranking": [asdict(c) for c in candidates]}, indent=2))
        return 0
    print("| bundle | HAM val BA | tuning BA | tuning mel recall (n) | score | ms | excluded |")
    print("|---|---|---|---|---|---|---|")
    for c in candidates:
        figures = [c.ham_validation, c.tuning_balanced_accuracy, c.tuning_melanoma_recall]
        shown = ["" if f is None else f"{f:.3f}" for f in figures]
        print(f"| {c.name}{' **(chosen)**' if c is chosen else ''} | {shown[0]} | {shown[1]} | {shown[2]} "
              f"({c.tuning_melanomas}) | {'' if c.score is None else f'{c.score:.3f}'} | {c.latency_ms} | "
              f"{c.excluded} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
