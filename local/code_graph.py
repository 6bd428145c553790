"""What a function's handler can run, found by reading the code: every module of the layer it
imports (`pipeline`, under shared/), their definitions, and the scopes reachable from the handler
by following references. local/code_actions.py maps what is reachable to IAM actions;
tests/contract/test_settings_template.py to the settings read.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from layer_path import SHARED_DIR as SHARED


@dataclass
class Module:
    name: str
    tree: ast.Module
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    defs: dict[str, ast.AST] = field(default_factory=dict)  # qualified name -> node


def _module_name(path: Path) -> str:
    relative = path.relative_to(SHARED).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _shared_modules() -> dict[str, Path]:
    return {_module_name(path): path for path in (SHARED / "pipeline").rglob("*.py")}


def _load(name: str, path: Path) -> Module:
    module = Module(name, ast.parse(path.read_text(), str(path)))
    package = name.rsplit(".", 1)[0] if "." in name else name
    # Imports anywhere count (a function-level import is how some modules avoid import cycles).
    for node in ast.walk(module.tree):
        _collect_imports(module, node, package)
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            module.defs[f"{name}.{node.name}"] = node
        elif isinstance(node, ast.ClassDef):
            module.defs[f"{name}.{node.name}"] = node
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    module.defs[f"{name}.{node.name}.{item.name}"] = item
    return module


def _collect_imports(module: Module, node: ast.AST, package: str) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            module.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: level 1 is the module's own package
            parents = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parents, base]).strip(".")
        for alias in node.names:
            module.aliases[alias.asname or alias.name] = f"{base}.{alias.name}"


class Code:
    """Every module reachable from one handler, and name resolution across them."""

    def __init__(self, handler: Path) -> None:
        self.modules: dict[str, Module] = {}
        self.handler = _load("app", handler)
        self.modules["app"] = self.handler
        pending = [self.handler]
        while pending:
            module = pending.pop()
            for target in module.aliases.values():
                name = self._module_of(target)
                if name and name not in self.modules:
                    self.modules[name] = _load(name, _shared_modules()[name])
                    pending.append(self.modules[name])
        self.defs = {qualified: node for m in self.modules.values() for qualified, node in m.defs.items()}

    def _module_of(self, qualified: str) -> str | None:
        parts = qualified.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in _shared_modules():
                return ".".join(parts[:end])
        return None

    def qualify(self, module: Module, node: ast.AST, cls: str | None) -> str | None:
        """The qualified name an expression like `a`, `a.b.c` or `self.m` stands for."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        if node.id == "self" and cls is not None:
            base = cls
        elif node.id in module.aliases:
            base = module.aliases[node.id]
        elif f"{module.name}.{node.id}" in module.defs:
            base = f"{module.name}.{node.id}"
        else:
            return None
        return self._through_reexports(".".join([base, *attrs]))

    def _through_reexports(self, qualified: str) -> str:
        """A name a module only imports (a re-export, as store/jobs.py's) stands for its
        definition: `pipeline.store.jobs.get_job` is `pipeline.store.job_reads.get_job`."""
        for _ in range(8):  # re-exports of re-exports, without looping on a cycle
            module = self._module_of(qualified)
            if module is None or module not in self.modules or qualified == module:
                return qualified
            name, _, rest = qualified[len(module) + 1 :].partition(".")
            target = self.modules[module].aliases.get(name)
            if target is None or f"{module}.{name}" in self.modules[module].defs:
                return qualified
            qualified = ".".join([target, rest]) if rest else target
        return qualified


def scopes_of(module: Module) -> Iterator[tuple[str, ast.AST, str | None]]:
    """(qualified name, node, enclosing class) of each function; the module's own top-level code
    runs at import and counts as a scope of its own."""
    for qualified, node in module.defs.items():
        parent = qualified.rsplit(".", 1)[0]
        cls = parent if parent in module.defs and isinstance(module.defs[parent], ast.ClassDef) else None
        if not isinstance(node, ast.ClassDef):
            yield qualified, node, cls
    yield (
        f"{module.name}.<module>",
        ast.Module(
            body=[n for n in module.tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))],
            type_ignores=[],
        ),
        None,
    )


@dataclass(frozen=True)
class Reached:
    """One scope (a function, a class's method, a module's top level) the handler can run."""

    qualified: str
    module: Any
    node: ast.AST
    cls: str | None
    # Every name or attribute in it that names a definition, with that definition's name.
    references: tuple[tuple[ast.Name | ast.Attribute, str], ...]


def reachable(code: Code) -> Iterator[Reached]:
    """Every scope reachable from the handler module, following references (not only calls:
    functions passed as values run too); a class in use brings all its methods."""
    scopes = {q: (m, n, c) for m in code.modules.values() for q, n, c in scopes_of(m)}
    # Entry points: everything the handler module defines, and every imported module's top level.
    pending = [q for q in scopes if q.startswith("app.")] + [f"{name}.<module>" for name in code.modules]
    seen: set[str] = set()
    while pending:
        qualified = pending.pop()
        if qualified in seen:
            continue
        seen.add(qualified)
        if qualified not in scopes:
            continue
        module, node, cls = scopes[qualified]
        references = []
        for inner in ast.walk(node):
            if not isinstance(inner, (ast.Name, ast.Attribute)):
                continue
            target = code.qualify(module, inner, cls)
            if target is None:
                continue
            references.append((inner, target))
            if target in code.defs and isinstance(code.defs[target], ast.ClassDef):
                pending.extend(q for q in scopes if q.startswith(f"{target}."))
            else:
                pending.append(target)
        yield Reached(qualified, module, node, cls, tuple(references))
