"""The package's one layering rule, read from the source with ``ast`` (nothing is imported or run).

Numbers in ``topic.py``, pictures in ``topic_plots.py`` (and the shared look in ``style.py``), widgets in
``widgets/``, one module per widget. So a numbers module never imports matplotlib or ipywidgets and
defines no ``plot_*`` function; a picture module imports no ipywidgets; every ``topic_plots.py`` has
its ``topic.py``; and a new figure's Axes come from one helper, ``style.new_axes`` (or ``new_axes_grid``).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "resblock"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if rel.parts[0] == "widgets":
        return "widget"
    if rel.name.endswith("_plots.py") or rel.name == "style.py":
        return "picture"
    return "numbers"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported(node: ast.AST) -> list[str]:
    """The top-level package names an import statement brings in ('' for anything else)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def _imports_anywhere(tree: ast.Module) -> set[str]:
    return {name for node in ast.walk(tree) for name in _imported(node)}


def _imports_at_top(tree: ast.Module) -> set[str]:
    """Imports that run when the module is imported: module level, including inside if/try blocks there."""
    out, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        out.update(_imported(node))
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            todo.extend(ast.iter_child_nodes(node))
    return out


def test_the_layers_are_found():
    layers = {_name(p): _layer(p) for p in MODULES}
    assert layers["gradients.py"] == "numbers" and layers["gradients_plots.py"] == "picture"
    assert layers["widgets/gradflow.py"] == "widget" and layers["style.py"] == "picture"
    assert layers["explorer.py"] == "numbers" and layers["explorer_plots.py"] == "picture"  # the explorer's (02)
    assert {n for n, layer in layers.items() if layer == "widget"} >= {
        "widgets/gradflow.py",
        "widgets/dashboard.py",
        "widgets/lesions.py",
    }


@pytest.mark.parametrize("path", [p for p in MODULES if _layer(p) == "numbers"], ids=_name)
def test_a_numbers_module_draws_nothing(path):
    tree = _tree(path)
    assert "matplotlib" not in _imports_anywhere(tree), (
        f"{_name(path)} is a numbers module but imports matplotlib: move its pictures into a *_plots.py module"
    )
    assert "ipywidgets" not in _imports_anywhere(tree), f"{_name(path)} imports ipywidgets: widgets live in widgets/"
    plots = [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("plot_")
    ]
    assert not plots, f"{_name(path)} defines {plots}: plot functions belong in {path.stem}_plots.py"


@pytest.mark.parametrize("path", [p for p in MODULES if _layer(p) == "picture"], ids=_name)
def test_a_picture_module_has_no_widgets(path):
    assert "ipywidgets" not in _imports_anywhere(_tree(path)), (
        f"{_name(path)} imports ipywidgets: widgets live in widgets/"
    )


def test_every_picture_module_has_its_numbers_module():
    lonely = [
        _name(p) for p in MODULES if p.name.endswith("_plots.py") and not p.with_name(p.name[:-9] + ".py").exists()
    ]
    assert not lonely, f"pictures without their numbers module: {lonely}"


def test_the_widgets_package_imports_nothing():
    tree = _tree(PACKAGE / "widgets" / "__init__.py")
    imports = [
        n
        for n in tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom))
        and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
    ]
    assert not imports, "resblock/widgets/__init__.py must import nothing: `import resblock.widgets.X` loads one widget"
    assert ast.get_docstring(tree), "resblock/widgets/__init__.py needs its one-line docstring"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_new_axes_come_from_the_style_module(path):
    # One helper makes a figure's Axes (white background, one default size): style.new_axes / new_axes_grid.
    if _name(path) == "style.py":
        return
    calls = [
        n.lineno
        for n in ast.walk(_tree(path))
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "subplots"
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "plt"
    ]
    assert not calls, f"{_name(path)} calls plt.subplots (lines {calls}): use resblock.style.new_axes or new_axes_grid"


def _documented_names() -> list[str]:
    """Every module as the package docstring and README name it: 'paths_plots', 'widgets.lesions', 'exercises'."""
    names = set()
    for p in MODULES:
        rel = p.relative_to(PACKAGE).with_suffix("")
        if rel.parts[0] == "exercises":
            names.add("exercises")
        elif rel.name != "__init__":
            names.add(".".join(rel.parts))
    return sorted(names)


def test_the_package_docstring_and_the_readme_list_every_module():
    docstring = ast.get_docstring(_tree(PACKAGE / "__init__.py"))
    readme = (PACKAGE.parent / "README.md").read_text()
    for where, text in (("resblock/__init__.py's docstring", docstring), ("README.md's package tables", readme)):
        missing = [n for n in _documented_names() if f"`{n}`" not in text]
        assert not missing, f"{where} does not name {missing}: add each under its topic (numbers, pictures or widget)"
