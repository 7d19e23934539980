"""The package's shape: no import cycle among layerkit's modules.

Read from the source with ``ast``, importing nothing, so it is quick and sees every import: at
module level, inside functions, under ``if TYPE_CHECKING:``, relative or absolute. An import
inside a function hides a cycle from Python but not from the reader; this guard counts it.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "layerkit"

# module → {module it imports: line of that import}
Graph = dict[str, dict[str, int]]


def module_name(path: Path, package: Path) -> str:
    """``layerkit/x/y.py`` → ``layerkit.x.y``; a package's ``__init__.py`` is the package itself."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> Graph:
    """Every import between the modules of ``package`` (subpackages included)."""
    paths = {module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    graph: Graph = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            for target in _targets(node, here, paths):
                if target != module:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[module] = dict(sorted(edges.items()))
    return graph


def _targets(node: ast.AST, here: str, modules: dict[str, Path]) -> list[str]:
    """The package's modules one import statement imports (``here`` is the importer's package)."""
    if isinstance(node, ast.Import):
        return [_known(alias.name, modules) for alias in node.names if _known(alias.name, modules)]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        parts = here.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    targets = []
    for alias in node.names:
        submodule = f"{source}.{alias.name}"  # from . import x: x may be a module
        target = submodule if submodule in modules else _known(source, modules)
        if target:
            targets.append(target)
    return targets


def _known(name: str, modules: dict[str, Path]) -> str:
    """The longest prefix of a dotted name that is one of the package's modules, or ''."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts)


def import_cycles(graph: Graph) -> list[list[str]]:
    """Each group of modules that import each other (directly or through others), sorted."""
    reach = {module: _reachable(graph, module) for module in graph}
    groups: list[list[str]] = []
    for module in graph:
        if module in reach[module] and not any(module in group for group in groups):
            groups.append(sorted(other for other in reach[module] if module in reach[other]))
    return groups


def _reachable(graph: Graph, start: str) -> set[str]:
    found: set[str] = set()
    stack = list(graph[start])
    while stack:
        module = stack.pop()
        if module not in found:
            found.add(module)
            stack.extend(graph.get(module, {}))
    return found


def describe(group: list[str], graph: Graph, package: Path) -> str:
    """``a, b import each other: a imports b (a.py:12); b imports a (b.py:40)``: every import
    inside the group, with where it is written, since breaking the cycle means moving one."""
    steps = []
    for importer in group:
        path = importer.replace(".", "/")
        file = f"{path}/__init__.py" if (package.parent / path).is_dir() else f"{path}.py"
        for imported, line in graph[importer].items():
            if imported in group:
                steps.append(f"{importer} imports {imported} ({file}:{line})")
    return f"{', '.join(group)} import each other: {'; '.join(steps)}"


def test_layerkit_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert graph["layerkit"], "the graph is empty: is PACKAGE layerkit's source folder?"
    cycles = [describe(cycle, graph, PACKAGE) for cycle in import_cycles(graph)]
    assert cycles == [], (
        "import cycles among layerkit's modules (move the shared piece to a module both can "
        "import, rather than hide the import inside a function):\n" + "\n".join(cycles)
    )


# -- the guard itself, on a made-up package ---------------------------------------------------

FILES = {
    "pkg/__init__.py": "from .a import run\nimport pkg.d\n",
    "pkg/a.py": "import json\n\n\ndef run():\n    from .sub import helper\n    return helper\n",
    "pkg/sub/__init__.py": "from . import b\nfrom .b import helper\n",
    "pkg/sub/b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .. import c\n",
    "pkg/c.py": "import json\nfrom pkg import a\n",
    "pkg/d.py": "from pkg.sub.b import helper as h\nimport os.path\n",
}


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root / "pkg"


def test_every_kind_of_import_is_an_edge(tmp_path):
    graph = import_graph(write_package(tmp_path, FILES))
    assert graph == {
        "pkg": {"pkg.a": 1, "pkg.d": 2},  # a name from a module; absolute
        "pkg.a": {"pkg.sub": 5},  # inside a function; a name from a subpackage's __init__
        "pkg.c": {"pkg.a": 2},  # from the package, a module
        "pkg.d": {"pkg.sub.b": 1},  # absolute from-import, renamed; os.path is not the package's
        "pkg.sub": {"pkg.sub.b": 1},  # from . import a module, in a package's __init__
        "pkg.sub.b": {"pkg.c": 4},  # two levels up, under TYPE_CHECKING
    }


def test_a_cycle_is_found_and_named_with_its_lines(tmp_path):
    package = write_package(tmp_path, FILES)
    graph = import_graph(package)
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub", "pkg.sub.b"]]
    assert describe(import_cycles(graph)[0], graph, package) == (
        "pkg.a, pkg.c, pkg.sub, pkg.sub.b import each other: pkg.a imports pkg.sub (pkg/a.py:5); "
        "pkg.c imports pkg.a (pkg/c.py:2); pkg.sub imports pkg.sub.b (pkg/sub/__init__.py:1); "
        "pkg.sub.b imports pkg.c (pkg/sub/b.py:4)"
    )


def test_without_the_closing_import_there_is_no_cycle(tmp_path):
    files = {**FILES, "pkg/c.py": "import json\n"}
    assert import_cycles(import_graph(write_package(tmp_path, files))) == []


def test_separate_cycles_are_reported_apart(tmp_path):
    files = {**FILES, "pkg/e.py": "from . import f\n", "pkg/f.py": "from .e import x\n"}
    cycles = import_cycles(import_graph(write_package(tmp_path, files)))
    assert cycles == [["pkg.a", "pkg.c", "pkg.sub", "pkg.sub.b"], ["pkg.e", "pkg.f"]]
