"""One command line for the research tools that make and judge bundles, and for the case history:

    python -m skin_core <verb> [its options]      # python -m skin_core <verb> --help for each

Training itself is ``python train.py`` (the paper-style entry point). The app and the Predictor API need none
of these.
"""

import importlib
import sys

# verb -> (module whose main() runs it, what it does)
VERBS = {
    "evaluate": ("skin_core.research.evaluate", "a bundle's report on any labelled folder (a clinic's own photos too)"),
    "fit-gate": ("skin_core.research.gate_fitting", "fit a bundle's input gate and release it as a new version"),
    "ensemble": ("skin_core.research.ensemble", "build an ensemble bundle from trained ones"),
    "operating-point": ("skin_core.research.operating_point", "choose a malignancy threshold again, as a new version"),
    "select": ("skin_core.research.selection", "rank the clinical bundles by the written rule; set the default"),
    "models-table": ("skin_core.research.models_table", "write docs/models-table.md from every bundle's reports"),
    "robustness": ("skin_core.research.robustness", "how answers hold up on darker, paler, blurred photos"),
    "bench": ("skin_core.research.bench", "inference speed of a bundle on this machine"),
    "train-bench": ("skin_core.research.train_bench", "training speed of a recipe on this machine"),
    "cases": ("skin_core.cases.__main__", "case-history users, migrations and backups"),
}


def usage() -> str:
    width = max(map(len, VERBS))
    verbs = "\n".join(f"  {verb:<{width}}  {purpose}" for verb, (_, purpose) in VERBS.items())
    return f"usage: python -m skin_core <verb> [options]\n\n{verbs}\n\nTraining: python train.py --help"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"error: unknown verb {verb!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(VERBS[verb][0])
    sys.argv = [f"python -m skin_core {verb}", *rest]
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
