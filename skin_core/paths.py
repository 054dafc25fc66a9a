"""Where the project finds shared data, pretrained files and model bundles.

`SKIN_SHARED_DIR` overrides the default `../shared` beside the repository (data and ImageNet weights);
`SKIN_WEIGHTS_DIR` overrides the repository's `weights/` folder of model bundles.
"""

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("SKIN_SHARED_DIR", REPO_DIR.parent / "shared"))


def ham10000_dir() -> Path:
    return shared_dir() / "data" / "ham10000"


def pretrained_dir() -> Path:
    return shared_dir() / "pretrained"


def weights_dir() -> Path:
    return Path(os.environ.get("SKIN_WEIGHTS_DIR", REPO_DIR / "weights"))
