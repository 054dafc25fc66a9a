"""The table of every bundle in weights/, written from the bundles' own reports so that it cannot drift:

    python -m skin_core models-table [--weights weights] [--out docs/models-table.md]

One row per bundle: whether a doctor is offered it (the catalogue's released models, the default first),
what it is, its balanced accuracy on its HAM10000 validation and test splits and on the photos from other
cameras (tuning sets and the report-only set, as recorded), the share of the report-only set its input gate
refuses, and its measured latency. A test regenerates it and compares.
"""

import argparse
import sys
from pathlib import Path

from skin_core import bundle as bundles
from skin_core import paths
from skin_core.paths import EXTERNAL_ROLES

HEADER = ("| bundle | status | backbone | input | HAM val BA | HAM test BA | "
          + " | ".join(f"{name} BA" for name in EXTERNAL_ROLES) + " | gate flags isic2017_test | ms |")


def status(bundle, catalogue, replaced: dict) -> str:
    if catalogue is not None and bundle.name == catalogue.default:
        return "**default**"
    if catalogue is not None and bundle.name in catalogue.released:
        return "released"
    if bundle.name in replaced:
        return f"older version of {replaced[bundle.name]}"
    return "clinical, not offered" if bundle.config.clinical else "research"


def table(weights_dir=None) -> str:
    usable, broken = bundles.scan(weights_dir)
    catalogue = bundles.read_catalogue(weights_dir)
    replaced = {b.config.supersedes: b.name for b in usable if b.config.supersedes}
    order = {name: index for index, name in enumerate(catalogue.released)} if catalogue else {}
    rows = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for b in sorted(usable, key=lambda b: (order.get(b.name, len(order)), b.name)):
        report, config = b.report, b.config
        external = report.external if report else {}
        gate = report.gate.in_distribution.get("isic2017_test") if report and report.gate else None
        figures = [report.validation.balanced_accuracy if report and report.validation else None,
                   report.test.balanced_accuracy if report else None,
                   *(external[name].balanced_accuracy if name in external else None for name in EXTERNAL_ROLES)]
        members = f" ({' + '.join(config.members)})" if config.members else ""
        latency = b.benchmark.latency_ms_median if b.benchmark else None
        rows.append(" | ".join([f"| {b.name}", status(b, catalogue, replaced), config.backbone + members,
                                "×".join(map(str, config.input_size)),
                                *("—" if f is None else f"{f:.3f}" for f in figures),
                                "—" if gate is None else f"{gate.flagged:.1%}",
                                "—" if latency is None else f"{latency:.1f}"]) + " |")
    rows += [f"| {name} | unusable: {error} |" + " |" * (HEADER.count(" | ") - 1) for name, error in broken.items()]
    return ("# Models\n\nWritten by `python -m skin_core models-table` from each bundle's config.json and "
            "metrics.json; do not edit by hand. BA: balanced accuracy (on the external sets, over the classes "
            "present). The choosing rule and the experiments behind each bundle: [models.md](models.md).\n\n"
            + "\n".join(rows) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skin_core models-table", description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="bundle folder (default: weights/)")
    parser.add_argument("--out", default=str(paths.REPO_DIR / "docs" / "models-table.md"))
    args = parser.parse_args(argv)
    Path(args.out).write_text(table(args.weights), encoding="utf-8")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
