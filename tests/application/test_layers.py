"""models/ is layered (README "Layout"): every import of a models module points to its own layer or a lower
one, and nothing in models/ imports Streamlit or the dashboard."""
from __future__ import annotations

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"

# Lowest first. The top-level modules not named here (auth, demo, startup, the command line, the ctcae
# re-export) are the application layer and may import any layer.
LAYERS = {"models.settings": 0, "models.csv_cells": 0, "models.clinical": 1, "models.store": 2, "models.analysis": 3, "models.exchange": 4}
APPLICATION = 5


def layer_of(module: str) -> int:
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return APPLICATION


def module_name(path: Path) -> str:
    parts = path.relative_to(MODELS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the importing package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((node.lineno, base))
            # `from models.clinical import ctcae` imports the module models.clinical.ctcae
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def test_imports_point_down_only():
    upward, ui = {}, {}  # (file, line) -> message: one per import statement
    for path in sorted(MODELS.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for line, target in imported_modules(ast.parse(path.read_text(), str(path)), package):
            root = target.split(".")[0]
            if root in ("streamlit", "dashboard"):
                ui.setdefault((path, line), f"{path.relative_to(MODELS.parent)}:{line} imports {target}")
            if root == "models" and target != "models" and layer_of(target) > layer_of(name):
                upward.setdefault((path, line), f"{path.relative_to(MODELS.parent)}:{line} ({name}) imports {target}")
    assert not ui, "models/ must not import the UI:\n" + "\n".join(ui.values())
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward.values())


def test_every_layer_says_what_belongs_there():
    for package in ("clinical", "store", "analysis", "exchange"):
        doc = ast.get_docstring(ast.parse((MODELS / package / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"models/{package}/__init__.py needs a docstring saying what belongs there"


def test_no_module_is_over_400_lines():
    long = [f"{p.relative_to(MODELS.parent)}: {n} lines" for p in MODELS.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400]
    assert not long, "split these by idea:\n" + "\n".join(long)
