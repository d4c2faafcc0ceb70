"""The package's layout, checked on the source with ast so that a new module cannot slip
past: no import circles (between modules, and between the layers: subpackages and root
modules), small modules and functions, and the engine owning the in-memory or streamed
decision without knowing the data set."""

import ast
from pathlib import Path

import symbreak

PACKAGE = Path(symbreak.__file__).parent
ENGINE = PACKAGE / "engine"
DECISIONS = {"fits_in_memory", "fits_budget"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # not counting the docstring


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


# ------------------------------------------------------------------ import circles
def _edges(module: str, is_package: bool, tree: ast.AST, known: set[str]) -> set[str]:
    """Modules of the package that ``module`` imports (anywhere in it): ``from p import m``
    names the module ``p.m`` when that is a module, else ``p`` itself."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = _imported(ast.Module(body=[node], type_ignores=[]), module, is_package)
            base = min(names, key=len)
            subs = {name for name in names - {base} if name in known}
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(base)
    return {name for name in found if name in known and name != module}


def _import_graph() -> dict[str, set[str]]:
    files = {_dotted(path): path for path in _modules(PACKAGE)}
    known = set(files)
    return {module: _edges(module, path.name == "__init__.py",
                           ast.parse(path.read_text(), str(path)), known)
            for module, path in files.items()}


def _layer(module: str) -> str:
    """``symbreak.io.guards.chunks`` -> ``symbreak.io``; a root module is its own layer."""
    return ".".join(module.split(".")[:2])


def _layers(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, imported in graph.items():
        out.setdefault(_layer(module), set()).update(
            _layer(name) for name in imported if _layer(name) != _layer(module))
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (a list that starts and ends with the same name), or
    [] when there is none: depth-first search, iterative."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return path[path.index(step):] + [step]
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return []


def test_no_module_imports_itself_in_a_circle():
    cycle = find_cycle(_import_graph())
    assert cycle == [], "import circle: " + " -> ".join(cycle)


def test_the_layers_import_each_other_one_way():
    cycle = find_cycle(_layers(_import_graph()))
    assert cycle == [], "the layers import each other in a circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_circles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    tree = ast.parse("from . import lock\nfrom .paths import display\nfrom .. import errors")
    known = {"symbreak.storage.lock", "symbreak.storage.paths", "symbreak.errors", "symbreak"}
    assert _edges("symbreak.storage.atomic", False, tree, known) == known - {"symbreak"}
    assert _layer("symbreak.io.guards.chunks") == "symbreak.io"


# ------------------------------------------------------------------ sizes
def function_lengths(tree: ast.AST) -> dict[str, int]:
    """Lines of every function and method, without its docstring."""
    lengths = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                n -= first.end_lineno - first.lineno + 1
            lengths[f"{node.name}:{node.lineno}"] = n
    return lengths


def test_modules_are_small():
    long = {str(p.relative_to(PACKAGE)): n for p in _modules(PACKAGE)
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: split them: {long}"


def test_functions_fit_on_a_screen():
    long = {}
    for path in _modules(PACKAGE):
        for name, n in function_lengths(ast.parse(path.read_text(), str(path))).items():
            if n > MAX_FUNCTION_LINES:
                long[f"{path.relative_to(PACKAGE)}:{name}"] = n
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines (docstring aside): {long}"


def test_function_lengths_leave_out_the_docstring():
    body = "\n".join(f"    x{i} = {i}" for i in range(3))
    tree = ast.parse(f'def f():\n    """One.\n\n    Two.\n    """\n{body}\n')
    assert function_lengths(tree) == {"f:1": 4}
