"""The package's layers import one way only: config → data → models → training → runs →
explain → figures → outputs → experiments → runner → applications → cli/web (read from the
source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import threefigures

PACKAGE = Path(threefigures.__file__).parent

#: Each layer may import itself and any layer listed before it, never one after it.
LAYERS = (
    ("errors", "config"),
    ("data",),
    ("models",),
    ("training",),
    ("runs",),
    ("explain",),
    ("figures",),
    ("outputs",),
    ("experiments",),
    ("runner",),
    # Figure 10's applications train full runs through the runner (figures and report)
    ("applications",),
    ("cli", "web", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> str:
    """``threefigures.runs.store`` → ``runs``; the package itself (lazy API) → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _package_of(path: Path) -> str:
    return ".".join(("threefigures", *path.relative_to(PACKAGE).with_suffix("").parts[:-1]))


def _imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) of every threefigures import in ``source``, relative ones resolved
    against ``package``; the ones inside functions (lazy imports) count too."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if module == "threefigures":  # from threefigures import experiments, ...
                found += [(node.lineno, f"threefigures.{a.name}") for a in node.names]
    return [(line, m) for line, m in found if m.startswith("threefigures.")]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    own = _layer(".".join(("threefigures", *path.relative_to(PACKAGE).with_suffix("").parts)))
    assert own in RANK, f"{path}: add its layer to LAYERS"
    upward = [
        f"line {line}: {module}"
        for line, module in _imports(path.read_text(encoding="utf-8"), _package_of(path))
        if _layer(module) in RANK and RANK[_layer(module)] > RANK[own]
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} imports a layer above its own: {upward}"


def test_figures_never_import_torch() -> None:
    for path in (PACKAGE / "figures").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] == "torch"], path


def test_the_layer_table_names_every_module() -> None:
    """A new top-level module or package must be placed in LAYERS (else the test above
    would silently skip it)."""
    tops = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    tops |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert tops <= set(RANK), sorted(tops - set(RANK))


def test_every_package_folder_is_a_regular_package() -> None:
    """A folder without ``__init__.py`` is a namespace package: setuptools' package finder
    leaves it out of a wheel, so an installed threefigures would lack it."""
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    assert not [f for f in folders if not (f / "__init__.py").exists()]


def test_a_violation_is_caught() -> None:
    """The check can fail: absolute, relative, lazy and package-level imports are all seen."""
    source = (
        "import threefigures.web.app\n"
        "from ..runner import train_run\n"
        "def f():\n"
        "    from threefigures import experiments\n"
    )
    modules = [m for _line, m in _imports(source, "threefigures.data")]
    assert set(modules) == {
        "threefigures.web.app",
        "threefigures.runner",
        "threefigures.experiments",
    }
    assert all(RANK[_layer(m)] > RANK["data"] for m in modules if _layer(m) in RANK)
