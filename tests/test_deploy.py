"""Deployment defaults: secrets and patient data never go into the Docker image, and the systemd unit keeps the
service's files private and its rights small."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "skin-lesion-app.service"


def _pattern(pattern: str) -> re.Pattern:
    """Docker's .dockerignore pattern as a regular expression ('**' any folders, '*' within one name)."""
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/"))
    table = {"**": ".*", "**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts))


def sent_to_docker(path: str) -> bool:
    """Whether `docker build` sends ``path`` to the image: the last pattern matching it or a folder above it
    decides, as Docker's build context does."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    sent = True
    for line in (line for line in lines if line and not line.startswith("#")):
        negated = line.startswith("!")
        regex = _pattern(line.lstrip("!"))
        parents = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 2)]
        if any(regex.fullmatch(part) for part in parents):
            sent = negated
    return sent


@pytest.mark.parametrize("path", [".streamlit/secrets.toml", "case-history/cases.db", "case-history/cases.db-wal",
                                  "backups/cases-2026-12-01.db", ".venv/bin/python", "test-artifacts/shot.png",
                                  "tests/test_app.py", ".git/config", "weights/mobilenetv2/checkpoint/ckpt.keras",
                                  "skin_core/__pycache__/model.cpython-311.pyc"])
def test_secrets_patient_data_and_clutter_stay_out_of_the_image(path):
    assert not sent_to_docker(path)


def test_the_image_holds_the_released_models_and_no_research_bundle():
    from skin_core import bundle as bundles

    catalogue = bundles.read_catalogue(ROOT / "weights")
    needed = set(catalogue.released)
    for name in catalogue.released:
        needed |= set(bundles.open_bundle(name, ROOT / "weights").config.members)
    for name in bundles.list_bundles(ROOT / "weights"):
        files = [f"weights/{name}/config.json", f"weights/{name}/metrics.json"]
        assert all(sent_to_docker(path) == (name in needed) for path in files), name


def test_everything_the_app_runs_goes_into_the_image():
    default = json.loads((ROOT / "weights" / "catalogue.json").read_text())["default"]
    needed = ["app.py", "requirements.txt", "requirements-base.txt", ".streamlit/config.toml",
              f"weights/{default}/model.keras", f"weights/{default}/config.json", "weights/catalogue.json",
              "assets/examples/mel.jpg", "assets/fonts/DejaVuSans.ttf"]
    needed += [str(p.relative_to(ROOT)) for folder in ("app_pages", "ui", "skin_core") for p in (ROOT / folder).rglob("*.py")
               if "research" not in p.parts]
    assert [path for path in needed if not sent_to_docker(path)] == []
    assert not sent_to_docker("skin_core/research/training.py")  # the app never imports the research layer


def test_the_image_runs_with_a_private_umask_as_a_user_without_rights_to_the_code():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER skinapp" in dockerfile and "umask 077" in dockerfile
    assert "secrets.toml" not in "".join(line for line in dockerfile.splitlines() if line.startswith("COPY"))


def _unit_settings() -> dict[str, str]:
    lines = [line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in lines}


def test_the_systemd_unit_keeps_files_private_and_the_system_read_only():
    settings = _unit_settings()
    assert settings["UMask"] == "0077" and settings["StateDirectoryMode"] == "0700"
    assert settings["NoNewPrivileges"] == "yes" and settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"] == "/var/lib/skin-lesion-app"
    assert settings["User"] == "skinapp" and settings["CapabilityBoundingSet"] == ""


@pytest.fixture
def runnable_unit(tmp_path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze (Debian's systemd package) is not installed")
    unit = tmp_path / UNIT.name  # the unit as installed, with this machine's Python in place of /opt's
    unit.write_text(UNIT.read_text().replace("/opt/skin-lesion-app/.venv/bin/python", sys.executable))
    return unit


def test_systemd_accepts_the_unit_and_rates_its_exposure_low(runnable_unit):
    verified = subprocess.run(["systemd-analyze", "verify", str(runnable_unit)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(runnable_unit)],
                              capture_output=True, text=True)
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout).group(1))
    assert exposure <= 4.0, security.stdout  # systemd's scale: 10 is a unit without any hardening
