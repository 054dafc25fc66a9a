"""skin_core is a model library: a script or notebook imports it without any display package."""

import os
import pkgutil
import subprocess
import sys

import skin_core

SCRIPT = """
import importlib, pkgutil, sys
import skin_core
for module in pkgutil.walk_packages(skin_core.__path__, "skin_core."):
    if ".migrations" not in module.name:  # Alembic's env.py runs only under Alembic
        importlib.import_module(module.name)
shown = sorted(name for name in sys.modules if name.split(".")[0] in ("streamlit", "plotly", "fpdf"))
print(shown)
"""


def test_skin_core_imports_no_display_package():
    assert len(list(pkgutil.iter_modules(skin_core.__path__))) > 10
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                            cwd=skin_core.paths.REPO_DIR, env={**os.environ, "PYTHONPATH": str(skin_core.paths.REPO_DIR)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def skin_core_imports() -> dict[str, set[str]]:
    """Module -> the skin_core modules it imports, at load time or inside a function (a lazy import that closes
    a circle still ties the modules together)."""
    import ast

    root = skin_core.paths.REPO_DIR / "skin_core"
    modules = {".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): path
               for path in root.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("skin_core"):
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
                imported |= submodules or {node.module}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name.startswith("skin_core")}
        graph[name] = imported - {name}
    return graph


def test_the_package_has_no_import_circle():
    """A circle (bundle -> gate -> predictor -> bundle, once) means no module can be understood, tested or moved
    alone; the runtime, the research tools and the case history must each depend only downwards."""
    graph = skin_core_imports()
    assert {"skin_core.bundle", "skin_core.gate", "skin_core.predictor"} <= graph.keys()
    state, circle = {}, []

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                circle.append(path + [imported])
            elif imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circle == []
    assert "skin_core.predictor" not in graph["skin_core.gate"]  # scoring needs no model; fitting does


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("research", "cases") else "runtime"


def test_the_runtime_the_research_tools_and_the_case_history_are_separate_layers():
    """The runtime (open a bundle, predict) needs neither the research tools nor the case history, and those two
    need only the runtime: a clinic's install and a training machine each carry only what they run."""
    allowed = {"runtime": {"runtime"}, "research": {"runtime", "research"}, "cases": {"runtime", "cases"}}
    crossing = sorted((module, imported) for module, imports in skin_core_imports().items()
                      if module != "skin_core.__main__"  # the one command line reaches every layer's tools
                      for imported in imports if layer_of(imported) not in allowed[layer_of(module)])
    assert crossing == []
    assert {layer_of(m) for m in skin_core_imports()} == {"runtime", "research", "cases"}

    root = skin_core.paths.REPO_DIR
    app_files = [root / "app.py", *(root / "app_pages").glob("*.py"), *(root / "ui").glob("*.py")]
    assert [path.name for path in app_files if "skin_core.research" in path.read_text(encoding="utf-8")] == []


def test_one_command_line_reaches_every_research_tool(capsys):
    from skin_core.__main__ import VERBS, main

    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(verb in listed for verb in VERBS) and "train.py" in listed
    assert main(["no-such-verb"]) == 2 and "unknown verb" in capsys.readouterr().err
    for verb in VERBS:
        try:
            main([verb, "--help"])
        except SystemExit as done:  # argparse prints the verb's own help and exits 0
            assert done.code == 0
        assert "usage:" in capsys.readouterr().out, verb


def test_one_command_sets_up_and_runs_the_tests_and_ci_calls_it():
    import re

    import run

    root = skin_core.paths.REPO_DIR
    readme = (root / "README.md").read_text(encoding="utf-8")
    tests_section = readme.split("## Tests", 1)[1]
    command = re.search(r"```bash\n(.+?)\n```", tests_section, re.S).group(1).strip()
    assert command == "python run.py pytest -q"
    assert command in (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "```bash\npython run.py\n```" in readme.split("## Set up and run", 1)[1]
    included = [path.name for path in run.requirement_files("requirements-test.txt")]
    assert included == ["requirements-test.txt", "requirements.txt", "requirements-base.txt"]
    assert run.fingerprint("requirements-test.txt") != run.fingerprint("requirements.txt")
