"""Imports go one way, down the pipeline, with no cycles and no private names.

Reads the source with `ast` (no TensorFlow import, fast) and checks every
`import` of a `ghnq_tf` module, including the imports inside functions and the
lazy `gq.<name>` public names a module reaches through `import ghnq_tf as gq`:

* (a) a module imports only from its own package or from an earlier layer of
  `LAYERS` (packages in one layer do not import each other);
* (b) no cycle between modules;
* (c) no `from x import _private` of another module's private name.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ghnq_tf"

# The pipeline, first layer lowest. A module may import from its own package
# (the first entry of LAYERS that is a prefix of its name) and from any earlier
# layer; packages in the same layer stay independent of each other.
LAYERS: list[tuple[str, ...]] = [
    ("ghnq_tf._env", "ghnq_tf._version"),
    ("ghnq_tf",),  # the package itself: `_EXPORTS` names load lazily
    ("ghnq_tf._keras", "ghnq_tf._io", "ghnq_tf._quiet"),
    ("ghnq_tf._compat",),  # private TF / tf_keras / tfmot / LiteRT internals
    ("ghnq_tf._applications", "ghnq_tf.data", "ghnq_tf.search_space"),
    ("ghnq_tf.graph",),
    ("ghnq_tf.hypernet",),
    ("ghnq_tf.quant",),
    ("ghnq_tf.prediction",),  # GHN + quantization: gq.predict
    ("ghnq_tf.training",),
    ("ghnq_tf.evaluation", "ghnq_tf.tuning", "ghnq_tf.export"),
    ("ghnq_tf.demo",),
    ("ghnq_tf.cli",),
]

# Cycles that are known and owned elsewhere; each entry is removed once fixed.
KNOWN_CYCLES: list[frozenset[str]] = [
    # Save/load live beside the GHN: `GHN.save`/`GHN.load` call checkpoint,
    # which builds a GHN.
    frozenset({"ghnq_tf.hypernet.ghn", "ghnq_tf.hypernet.checkpoint"}),
]

# (importing module, imported module, private name) still allowed.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _lazy_exports() -> dict[str, str]:
    """`ghnq_tf._EXPORTS`: public name → module, read without importing."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_EXPORTS":
            return ast.literal_eval(node.value)
    raise AssertionError("ghnq_tf/__init__.py has no `_EXPORTS`")


def _imports(name: str, path: pathlib.Path, modules: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) of every ghnq_tf import in `path`."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    result: list[tuple[str, str, int]] = []
    gq_aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ghnq_tf":
                    result.append((alias.name, "", node.lineno))
                    if alias.name == "ghnq_tf" and alias.asname:
                        gq_aliases.add(alias.asname)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "ghnq_tf":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:  # `from package import module`
                    result.append((submodule, "", node.lineno))
                else:
                    result.append((source, alias.name, node.lineno))
    if gq_aliases:  # `gq.<public name>` loads `_EXPORTS[name]`
        exports = _lazy_exports()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in gq_aliases
                and node.attr in exports
            ):
                result.append((exports[node.attr], "", node.lineno))
    return result


def _edges() -> dict[str, list[tuple[str, str, int]]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _unit(module: str) -> tuple[int, str]:
    """(layer index, package) of a module: the longest `LAYERS` entry it is in."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(LAYERS):
        for package in layer:
            if (module == package or module.startswith(package + ".")) and (
                best is None or len(package) > len(best[1])
            ):
                best = (index, package)
    assert best is not None, f"{module} is in no layer of LAYERS: add it"
    return best


def test_every_module_has_a_layer():
    for name in _modules():
        _unit(name)


def test_imports_go_down_the_pipeline():
    errors = []
    for name, imports in _edges().items():
        layer, package = _unit(name)
        for target, _, line in imports:
            target_layer, target_package = _unit(target)
            if target_package == package:
                continue
            if target_layer >= layer:
                errors.append(
                    f"{name}:{line} imports {target} ({target_package}, layer "
                    f"{target_layer}), not below {package} (layer {layer})"
                )
    assert not errors, "Upward or sideways imports:\n" + "\n".join(errors)


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    graph = {
        name: {target for target, _, _ in imports if target != name}
        for name, imports in _edges().items()
    }
    cycles = [c for c in _cycles(graph) if c not in KNOWN_CYCLES]
    assert not cycles, "Import cycles:\n" + "\n".join(str(sorted(c)) for c in cycles)


def test_known_exceptions_are_still_needed():
    graph = {
        name: {target for target, _, _ in imports if target != name}
        for name, imports in _edges().items()
    }
    cycles = _cycles(graph)
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert not stale, f"Fixed cycles still listed in KNOWN_CYCLES: {stale}"
    used = {
        (name, target, imported)
        for name, imports in _edges().items()
        for target, imported, _ in imports
    }
    stale_private = sorted(KNOWN_PRIVATE_IMPORTS - used)
    assert not stale_private, f"Gone, drop from KNOWN_PRIVATE_IMPORTS: {stale_private}"


def test_no_private_names_across_modules():
    errors = []
    for name, imports in _edges().items():
        for target, imported, line in imports:
            private = imported.startswith("_") and not imported.startswith("__")
            if private and target != name and (name, target, imported) not in KNOWN_PRIVATE_IMPORTS:
                errors.append(f"{name}:{line} imports private {imported} from {target}")
    assert not errors, "Private names imported across modules:\n" + "\n".join(errors)


def test_the_checker_sees_violations():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [frozenset({"a", "b", "c"})]
    assert _unit("ghnq_tf.quant.variables") == (LAYERS.index(("ghnq_tf.quant",)), "ghnq_tf.quant")
    assert _unit("ghnq_tf") == (1, "ghnq_tf")
    assert _unit("ghnq_tf.hypernet")[0] < _unit("ghnq_tf.prediction.predict")[0]


# Non-public modules of the dependencies: imported in `ghnq_tf._compat` only.
PRIVATE_DEPENDENCY_MODULES = (
    "tensorflow.python",
    "tensorflow_model_optimization.python",
    "tf_keras.src",
    "keras.src",
    "ai_edge_litert._",
)


def test_private_dependency_modules_only_in_compat():
    errors = []
    for name, path in _modules().items():
        if name == "ghnq_tf._compat" or name.startswith("ghnq_tf._compat."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                sources = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                sources = [node.module or ""]
            else:
                continue
            for source in sources:
                if any(
                    source == p or source.startswith(p if p.endswith("_") else p + ".")
                    for p in PRIVATE_DEPENDENCY_MODULES
                ):
                    errors.append(f"{name}:{node.lineno} imports {source}")
    assert not errors, "Private dependency modules outside ghnq_tf/_compat/:\n" + "\n".join(errors)
