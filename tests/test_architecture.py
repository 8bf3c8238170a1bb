"""The house rules of ARCHITECTURE.md that code can check: no import circle anywhere, dependencies
pointing one way (pipeline → sources, pipeline → models), relative imports inside the packages,
and a command line whose ``--help`` does not load torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pipeline": "spikestream.pipeline", "sources": "spikestream.sources", "models": "spikestream.models"}


def module_name(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[:2] == ["pipeline", "face"]:
        parts = ["spikestream"] + parts[2:]
    else:
        parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for folder in PACKAGES for path in (REPO_ROOT / folder).rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its file (module level or inside functions)."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{alias.name}" for alias in node.names] + [stem]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_no_import_circle_anywhere():
    graph = import_graph()
    # a package's __init__ importing its own sub-modules is not a circle with them
    graph = {
        name: {
            t for t in targets if not (t.startswith(name + ".") and Path(package_modules()[name]).name == "__init__.py")
        }
        for name, targets in graph.items()
    }
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target] if target in path else [node, target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import circles: " + "; ".join(" → ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("spikestream.sources", ("spikestream.pipeline", "spikestream.models")),
        ("spikestream.models", ("spikestream.pipeline", "spikestream.sources")),
    ],
)
def test_dependencies_point_one_way(package, forbidden):
    wrong = {
        (name, target)
        for name, targets in import_graph().items()
        if name.startswith(package)
        for target in targets
        if target.startswith(forbidden)
    }
    assert wrong == set()


def test_package_code_uses_relative_imports():
    absolute = []
    for path in package_modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("spikestream"):
                absolute.append((str(path.relative_to(REPO_ROOT)), node.module))
    # the one exception: `python -m spikestream.pipeline.cli` runs __main__, which calls the package's own module
    assert [item for item in absolute if item != ("pipeline/cli.py", "spikestream.pipeline.cli")] == []


@pytest.mark.parametrize("argv", [["--help"], ["replay", "--help"], ["listen", "--help"], ["train", "--help"]])
def test_help_does_not_import_torch(argv):
    code = (
        "import sys\nfrom spikestream.pipeline import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "NO TORCH", result.stdout + result.stderr
