"""skin_core is a model library: a script or notebook imports it without any display package."""

import os
import pkgutil
import subprocess
import sys

import skin_core

SCRIPT = """
import importlib, pkgutil, sys
import skin_core
for module in pkgutil.iter_modules(skin_core.__path__):
    importlib.import_module(f"skin_core.{module.name}")
shown = sorted(name for name in sys.modules if name.split(".")[0] in ("streamlit", "plotly", "fpdf"))
print(shown)
"""


def test_skin_core_imports_no_display_package():
    assert len(list(pkgutil.iter_modules(skin_core.__path__))) > 10
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                            cwd=skin_core.paths.REPO_DIR, env={**os.environ, "PYTHONPATH": str(skin_core.paths.REPO_DIR)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
