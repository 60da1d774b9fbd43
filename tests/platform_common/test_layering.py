"""The layering of the README ("Layers"), enforced: every first-party import is read from the
source (AST, so imports inside functions and `TYPE_CHECKING` blocks count too) and checked
against who may import whom.

    tests, bench                       may import anything
    deploy        -> platform_common   starts the domains as processes, by module name only
    workers       -> <domain>.worker   composes the domains' workers into one process
    operator_cli  -> platform_common   the operator console: a client of the API (protos) only
    <domain>      -> platform_common   never another domain: domains share only the protos
    platform_common                    knows no domain

Inside a domain, the deterministic core (its workflows, their model, policy and contract, and
the domain's `rules` once a workflow uses them) is what Temporal's sandbox re-imports for every
run: it may import only that core and the few pure modules of platform_common listed below,
never the domain's service, store, activities or client, and none of the libraries that do I/O.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = frozenset({"order_svc", "dispute_svc", "refund_svc", "evidence_svc"})
FIRST_PARTY = DOMAINS | {
    "platform_common",
    "workers",
    "deploy",
    "tests",
    "bench",
    "scripts",
    "examples",
    "operator_cli",
}
MAY_IMPORT: dict[str, frozenset[str]] = {
    "platform_common": frozenset({"platform_common"}),
    "workers": frozenset({"platform_common", "workers"} | DOMAINS),
    "deploy": frozenset({"platform_common", "deploy"}),
    "scripts": frozenset({"scripts"}),
    # What a platform team copies: only the shared scheme code, never a domain.
    "examples": frozenset({"platform_common", "examples"}),
    # The operator console sees what any client sees: the API and the shared code, no domain.
    "operator_cli": frozenset({"platform_common", "operator_cli"}),
    **{domain: frozenset({"platform_common", domain}) for domain in DOMAINS},
}
# A domain's deterministic core: module names (the last part of the dotted path). A domain's
# `rules` joins the core when a core module imports it (then it must be as pure).
CORE = re.compile(r"^(workflow\w*|model|policy|contract)$")
CORE_MAY_JOIN = re.compile(r"^(rules)$")
# What the core may take from platform_common: pure code with no I/O of its own.
CORE_MAY_USE = frozenset(
    {
        "platform_common.search_attributes",
        "platform_common.refusals",
        "platform_common.ui",
        "platform_common.currencies",
    }
)
# Libraries that do I/O or read the clock: never in a workflow's import graph.
CORE_FORBIDS = frozenset(
    {"grpc", "sqlalchemy", "alembic", "minio", "jwt", "psycopg", "socket", "subprocess", "threading"}
    | {"os", "time", "random", "urllib", "http", "requests", "aiohttp"}
)


@dataclass(frozen=True)
class Violation:
    module: str
    imported: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.why}"


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(root: Path, module: str, tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Every imported module, absolute; `from pkg import sub` counts as `pkg.sub` when sub is a
    module of this repository."""
    package = module.rsplit(".", 1)[0] if "." in module else module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                as_path = root.joinpath(*sub.split("."))
                is_module = as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists()
                yield (sub if is_module else base), node.lineno


def check(root: Path) -> list[Violation]:
    found: list[Violation] = []
    # Every package at the top of the repository must have a place in the layering: a new one
    # that nobody placed would otherwise escape every rule.
    for init in sorted(root.glob("*/__init__.py")):
        if init.parent.name not in FIRST_PARTY:
            found.append(
                Violation(init.parent.name, "", 0, "a top-level package the layering does not place")
            )
    imports: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in FIRST_PARTY or "migrations" in rel.parts:
            continue
        module = _module_name(root, path)
        imports[module] = list(_imports(root, module, ast.parse(path.read_text(), str(path))))
    core = {m for m in imports if m.split(".")[0] in DOMAINS and CORE.match(m.split(".")[-1])}
    grown = True
    while grown:  # the rules a core module imports are core too
        joining = {
            imported
            for m in core
            for imported, _ in imports[m]
            if imported.split(".")[0] == m.split(".")[0] and CORE_MAY_JOIN.match(imported.split(".")[-1])
        } - core
        core |= joining
        grown = bool(joining)
    core |= CORE_MAY_USE & imports.keys()  # the pure helpers are held to the core's standard too
    for module, imported_here in imports.items():
        top = module.split(".")[0]
        for imported, line in imported_here:
            target_top = imported.split(".")[0]
            if module in core:
                if target_top in CORE_FORBIDS:
                    found.append(Violation(module, imported, line, "a workflow's imports must do no I/O"))
                elif (
                    target_top == "platform_common"
                    and imported not in CORE_MAY_USE
                    and module not in CORE_MAY_USE
                ):
                    found.append(Violation(module, imported, line, "not one of the core's pure helpers"))
                elif target_top == top and imported not in core and imported != top:
                    found.append(Violation(module, imported, line, "the core imports only the core"))
            if target_top not in FIRST_PARTY or top not in MAY_IMPORT:
                continue
            if target_top not in MAY_IMPORT[top]:
                found.append(Violation(module, imported, line, f"{top} may not import {target_top}"))
            elif top == "workers" and target_top in DOMAINS and not imported.endswith(".worker"):
                found.append(Violation(module, imported, line, "workers use only <domain>.worker"))
    return found


def test_the_code_follows_the_layering() -> None:
    violations = check(ROOT)
    assert not violations, "\n".join(map(str, violations))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # A domain reaching into another domain's internals.
        (
            {"refund_svc/server.py": "from order_svc.store import OrderRow\n"},
            "refund_svc may not import order_svc",
        ),
        # platform_common importing a domain (a lower layer looking up).
        (
            {"platform_common/x.py": "def f():\n    import dispute_svc.model\n"},
            "platform_common may not import",
        ),
        # A workflow importing its own domain's service layer.
        (
            {"dispute_svc/workflow.py": "from dispute_svc import server\n", "dispute_svc/server.py": ""},
            "the core imports only the core",
        ),
        # A workflow doing I/O at import.
        ({"order_svc/workflow.py": "import grpc\n"}, "must do no I/O"),
        # A domain's rules, once a workflow imports them, are held to the core's standard.
        (
            {
                "order_svc/workflow.py": "from order_svc import rules\n",
                "order_svc/rules.py": "import sqlalchemy\n",
            },
            "must do no I/O",
        ),
        # A pure helper of platform_common that does I/O itself.
        ({"platform_common/refusals.py": "import os\n"}, "must do no I/O"),
        # A new top-level package that nobody placed in the layering.
        ({"workflows/__init__.py": "", "workflows/io.py": "import grpc\n"}, "does not place"),
        # The operator console reaching into a domain instead of calling its API.
        (
            {
                "operator_cli/app.py": "from dispute_svc.views import dispute_view\n",
                "dispute_svc/views.py": "",
            },
            "operator_cli may not import dispute_svc",
        ),
        # The composition reaching past a domain's worker.
        ({"workers/__main__.py": "from dispute_svc.client import DisputeClient\n"}, "only <domain>.worker"),
    ],
)
def test_the_checker_refuses_a_forbidden_import(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    """The contract above would pass on any tree if the checker saw nothing: each forbidden
    shape, planted in a scratch tree, must be reported."""
    violations = check(_tree(tmp_path, files))
    assert any(expected in str(v) for v in violations), violations


def test_the_checker_accepts_the_allowed_shapes(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "dispute_svc/workflow.py": "from dispute_svc import contract\nfrom platform_common import search_attributes\n",
            "dispute_svc/contract.py": "",
            "dispute_svc/server.py": "from dispute_svc.workflow import X\nfrom platform_common.errors import E\n",
            "workers/__main__.py": "from dispute_svc.worker import build_worker\n",
            "dispute_svc/worker.py": "",
            "platform_common/search_attributes.py": "",
        },
    )
    assert check(root) == []
