"""Imports run one way: down the layers of README's Layout, never in a circle.

Layers, lowest first; a module imports its own unit or a lower layer, nothing else:
0. core: errors, progress_log, features, the config types;
1. models/ and data/;
2. the modules at components/'s top (artifact types and files, split names, evaluation);
3. each component package in components/<name>/, which borrows from no other;
4. pipeline/ (building and running the pipeline) and inference/ (using a trained model);
5. runs/ (reading runs: history, summaries, reports);
6. the CLI (signpipe/).
"""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CORE = {
    "signpipe.errors",
    "signpipe.models.features",
    "signpipe.pipeline.configs",
    "signpipe.pipeline.progress_log",
}
# Highest first, so that `signpipe.runs` is found before `signpipe`.
PACKAGE_LAYERS = (
    ("signpipe.runs", 5),
    ("signpipe.inference", 4),
    ("signpipe.pipeline", 4),
    ("signpipe.models", 1),
    ("signpipe.data", 1),
    ("signpipe", 6),
)


def source_folders(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """{package: folder}: `signpipe/` and each folder setup.py installs as `signpipe.<name>`."""
    tree = ast.parse((root / "setup.py").read_text())
    names = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "SUBPACKAGES"
    )
    return {"signpipe": root / "signpipe", **{f"signpipe.{n}": root / n for n in names}}


def modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """{dotted module name: file} for every Python file of the installed packages."""
    found = {}
    for package, folder in source_folders(root).items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(root: pathlib.Path) -> dict[str, dict[str, int]]:
    """{module: {imported signpipe module: line}}, function-level imports included."""
    known = modules(root)
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in known
                    else node.module
                    for alias in node.names
                ]
            for target in targets:
                if target in known and target != name:
                    edges.setdefault(target, node.lineno)
    return graph


def unit(module: str) -> tuple[int, str]:
    """(layer, unit): a module may import its own unit or any unit of a lower layer."""
    if module in CORE:
        return 0, "core"
    if module.startswith("signpipe.components."):
        parts = module.split(".")
        is_package_module = len(parts) > 3 or module in _COMPONENT_PACKAGES
        return (3, ".".join(parts[:3])) if is_package_module else (2, "signpipe.components")
    if module == "signpipe.components":
        return 2, "signpipe.components"
    for package, layer in PACKAGE_LAYERS:
        if module == package or module.startswith(package + "."):
            return layer, package
    raise AssertionError(f"{module} is in no layer: add its package to PACKAGE_LAYERS")


_COMPONENT_PACKAGES = {
    f"signpipe.components.{path.parent.name}"
    for path in (REPO / "components").glob("*/__init__.py")
}


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Each import of a higher layer, or of another unit of the same layer."""
    wrong = []
    for module, edges in sorted(graph.items()):
        layer, own = unit(module)
        for target, line in sorted(edges.items()):
            target_layer, target_unit = unit(target)
            if target_unit != own and target_layer >= layer:
                wrong.append(f"{module}:{line} imports {target} ({own} -> {target_unit})")
    return wrong


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Groups of modules that import one another, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_goes_up_a_layer_or_across_components():
    assert upward_imports(imports(REPO)) == []


def test_no_modules_import_each_other():
    assert cycles(imports(REPO)) == []


def test_every_module_has_a_layer():
    assert {unit(module)[0] for module in modules(REPO)} == set(range(7))


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    """A repo with the project's setup.py and a few modules."""
    (tmp_path / "setup.py").write_text('SUBPACKAGES = ("models", "runs")\n')
    for folder in ("signpipe", "models", "runs"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "signpipe" / "errors.py").write_text("")
    (tmp_path / "models" / "model.py").write_text("from signpipe.errors import E\n")
    return tmp_path


def test_an_import_up_a_layer_is_caught(tree: pathlib.Path):
    (tree / "runs" / "history.py").write_text("import os\n")
    (tree / "models" / "helper.py").write_text("def f():\n    from signpipe.runs import history\n")
    assert upward_imports(imports(tree)) == [
        "signpipe.models.helper:2 imports signpipe.runs.history (signpipe.models -> signpipe.runs)"
    ]


def test_modules_that_import_each_other_are_caught(tree: pathlib.Path):
    (tree / "models" / "a.py").write_text("from signpipe.models import b\n")
    (tree / "models" / "b.py").write_text("def f():\n    import signpipe.models.a\n")
    assert upward_imports(imports(tree)) == []
    assert cycles(imports(tree)) == [["signpipe.models.a", "signpipe.models.b"]]
