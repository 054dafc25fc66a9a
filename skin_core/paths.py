"""Where the project finds shared data, pretrained files and model bundles.

`SKIN_SHARED_DIR` overrides the default `../shared` beside the repository (data and ImageNet weights);
`SKIN_WEIGHTS_DIR` overrides the repository's `weights/` folder of model bundles.
"""

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent

# The role of each set of photos from other cameras (../shared/data/external/<name>/README.md): tuning sets
# choose models, thresholds and the default, so their figures may flatter; a report-only set chooses nothing.
EXTERNAL_ROLES = {"isic2017_val": "tuning", "ph2": "tuning", "isic2017_test": "report_only"}
TUNING_SETS = tuple(name for name, role in EXTERNAL_ROLES.items() if role == "tuning")

def shared_dir() -> Path:
    return Path(os.environ.get("SKIN_SHARED_DIR", REPO_DIR.parent / "shared"))


def ham10000_dir() -> Path:
    return shared_dir() / "data" / "ham10000"


def pretrained_dir() -> Path:
    return shared_dir() / "pretrained"


def weights_dir() -> Path:
    return Path(os.environ.get("SKIN_WEIGHTS_DIR", REPO_DIR / "weights"))


def recorded(path) -> str:
    """A data folder or file as a bundle records it, the same on every machine: relative to the shared folder
    (``data/ham10000``) or to the repository (``weights/mobilenetv2/split.csv``) when inside one, otherwise a
    folder's name or a file's folder and name, never this machine's absolute path."""
    absolute = Path(path).expanduser().resolve()
    for base in (shared_dir(), REPO_DIR):
        try:
            return absolute.relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            continue
    return f"{absolute.parent.name}/{absolute.name}" if absolute.is_file() else absolute.name


def located(recorded_path: str) -> Path:
    """Where a path recorded by ``recorded`` is on this machine: in the shared folder, else in the repository."""
    path = Path(recorded_path)
    if path.is_absolute():
        return path
    in_shared = shared_dir() / path
    return in_shared if in_shared.exists() else REPO_DIR / path
