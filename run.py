"""Set up and start: one command for the app and one for the tests, on a fresh machine or an old one.

    python run.py              # the app, at http://localhost:8501 (Streamlit's options may follow: --server.port 8600)
    python run.py pytest -q    # the test suite: pytest and its options, in the project's environment

The first run creates a virtual environment in ``.venv`` and installs ``requirements.txt`` (the app) or
``requirements-test.txt`` (the tests) into it; later runs reinstall only when those files change. Only the
standard library is used here, so any Python 3.10-3.12 can start it.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ENVIRONMENT = ROOT / ".venv"
REQUIREMENTS = {"app": "requirements.txt", "test": "requirements-test.txt"}
SUPPORTED = ((3, 10), (3, 12))


def environment_python() -> Path:
    return ENVIRONMENT / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirement_files(name: str) -> list[Path]:
    """A requirements file and every file it includes with ``-r``, in the order pip reads them."""
    path = ROOT / name
    files = [path]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("-r "):
            files += requirement_files(line.strip()[3:].strip())
    return files


def fingerprint(name: str) -> str:
    digest = hashlib.sha256()
    for path in requirement_files(name):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def set_up(purpose: str) -> Path:
    """The environment's Python, with ``purpose``'s requirements installed (only when they changed)."""
    if not SUPPORTED[0] <= sys.version_info[:2] <= SUPPORTED[1]:
        sys.exit(f"error: Python {sys.version.split()[0]} is running this; the app needs Python 3.10 to 3.12 "
                 f"(TensorFlow's releases). Start it with one of those, e.g. `python3.11 run.py`.")
    python = environment_python()
    if not python.exists():
        print(f"Creating the virtual environment {ENVIRONMENT} (once) ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(ENVIRONMENT)
    stamp = ENVIRONMENT / f"installed-{purpose}.sha256"
    wanted = fingerprint(REQUIREMENTS[purpose])
    if not stamp.is_file() or stamp.read_text().strip() != wanted:
        print(f"Installing {REQUIREMENTS[purpose]} into {ENVIRONMENT} (first run, or the file changed) ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
                        str(ROOT / REQUIREMENTS[purpose])], cwd=ROOT, check=True)
        stamp.write_text(wanted + "\n")
    return python


def main(argv: list[str]) -> int:
    purpose = "test" if argv[:1] == ["pytest"] else "app"
    rest = argv[1:] if purpose == "test" else argv
    try:
        python = set_up(purpose)
    except subprocess.CalledProcessError as error:
        print(f"error: installing the requirements failed (exit status {error.returncode}); the messages above say "
              f"which package. Check the network or the package index, then run this command again.", file=sys.stderr)
        return 1
    command = ([str(python), "-m", "pytest", *rest] if purpose == "test"
               else [str(python), "-m", "streamlit", "run", "app.py", *rest])
    if os.name == "posix":  # become the app or the tests: a stop signal (systemd, kill, Ctrl+C) reaches it
        os.chdir(ROOT)
        os.execv(command[0], command)
    return subprocess.call(command, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
