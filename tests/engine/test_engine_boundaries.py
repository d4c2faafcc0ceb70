"""The engine owns the in-memory or streamed decision and does not know the data set:
checked on the source, with ast, so that a new module cannot slip past."""

import ast
from pathlib import Path

import symbreak

PACKAGE = Path(symbreak.__file__).parent
ENGINE = PACKAGE / "engine"
DECISIONS = {"fits_in_memory", "fits_budget"}


def _modules(under: Path, *, outside: Path | None = None) -> list[Path]:
    files = sorted(under.rglob("*.py"))
    return [f for f in files if outside is None or outside not in f.parents]


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute names of every module imported anywhere in ``tree`` (also inside
    functions and ``if TYPE_CHECKING``), with ``from x import y`` giving ``x`` and ``x.y``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _decision_uses(tree: ast.AST) -> list[int]:
    """Lines that name ``fits_in_memory``/``fits_budget`` (a call, an attribute or an import)."""
    lines = []
    for node in ast.walk(tree):
        name = (node.id if isinstance(node, ast.Name) else
                node.attr if isinstance(node, ast.Attribute) else None)
        if name in DECISIONS:
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom):
            lines += [node.lineno for alias in node.names if alias.name in DECISIONS]
    return lines


def test_only_the_engine_decides_in_memory_or_streamed():
    offenders = {}
    for path in _modules(PACKAGE, outside=ENGINE):
        lines = _decision_uses(ast.parse(path.read_text(), str(path)))
        if lines:
            offenders[str(path.relative_to(PACKAGE))] = lines
    assert offenders == {}, ("decide with symbreak.engine.placement(), not "
                             f"fits_in_memory/fits_budget: {offenders}")


def test_the_engine_does_not_import_the_data_set():
    offenders = {}
    for path in _modules(ENGINE):
        tree = ast.parse(path.read_text(), str(path))
        found = {name for name in _imported(tree, _dotted(path), path.name == "__init__.py")
                 if name == "symbreak.dataset" or name.startswith("symbreak.dataset.")}
        if found:
            offenders[path.name] = found
    assert offenders == {}, f"engine modules import the data set: {offenders}"


def test_the_scan_sees_relative_imports_and_decisions():
    """The helpers above do find what they look for (else the tests pass on anything)."""
    tree = ast.parse("from ..dataset import Dataset4D\nif x:\n    from symbreak import dataset\n"
                     "from ..engine import fits_budget\nengine.fits_in_memory(3)\n")
    names = _imported(tree, "symbreak.engine.mapper", False)
    assert {"symbreak.dataset", "symbreak.dataset.Dataset4D"} <= names
    assert "symbreak.dataset" in _imported(ast.parse("from . import dataset"), "symbreak", True)
    assert _decision_uses(tree) == [4, 5]
