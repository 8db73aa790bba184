"""The import graph: the product never reaches into its test kit, and no import runs back up.

Read from the source with ``ast``, so an import inside a function (a lazy one) counts as
much as one at the top of a module; only ``if TYPE_CHECKING:`` blocks, which never run,
are left out.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import ps2moodle_testkit
import reconciler

PRODUCT = Path(reconciler.__file__).parent
TESTKIT = Path(ps2moodle_testkit.__file__).parent


def _modules(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _runs(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of ``nodes`` that can run: ``if TYPE_CHECKING:`` bodies are skipped."""
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _runs(node.orelse)
            continue
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _runs([child])
            else:
                yield from ast.walk(child)


def _imported(path: Path) -> set[str]:
    """The absolute module names ``path`` imports (``from a import b``: ``a`` and ``a.b``),
    and every string naming a module it could hand to ``importlib``."""
    names: set[str] = set()
    for node in _runs(ast.parse(path.read_text("utf-8"), str(path)).body):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path}:{node.lineno}: relative import; the product imports by absolute name")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("ps2moodle_"):
            names.add(node.value)
    return names


def test_the_product_imports_nothing_from_its_test_kit() -> None:
    modules = _modules(PRODUCT)
    assert len(modules) > 50, "every product module is walked"
    reaching = {
        f"{name} imports {target}"
        for name, path in modules.items()
        for target in _imported(path)
        if target == "ps2moodle_testkit" or target.startswith("ps2moodle_testkit.")
    }
    assert not reaching, sorted(reaching)


def test_the_walk_sees_lazy_imports_and_module_names(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import ps2moodle_testkit.typing_only\n"
        "def later():\n    from ps2moodle_testkit.emulators import district\n"
        "    return importlib.import_module('ps2moodle_testkit.demo')\n",
        "utf-8",
    )
    assert _imported(module) == {
        "typing",
        "typing.TYPE_CHECKING",
        "ps2moodle_testkit.emulators",
        "ps2moodle_testkit.emulators.district",
        "ps2moodle_testkit.demo",
    }


def test_the_test_kit_builds_on_the_product() -> None:
    """The allowed direction is used: the emulators and the demo run the product's own code."""
    imported = {target for path in _modules(TESTKIT).values() for target in _imported(path)}
    assert any(target.startswith("reconciler.") for target in imported)


def test_no_product_import_runs_back_up() -> None:
    """The product's modules form a graph without cycles, and only the command line imports
    the command line: it is the top, nothing below it reaches for it."""
    modules = _modules(PRODUCT)
    graph = {name: {t for t in _imported(path) if t in modules and t != name} for name, path in modules.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if not name.startswith("reconciler.cli")
        for target in targets
        if target.startswith("reconciler.cli")
    )
    assert not upward, upward
