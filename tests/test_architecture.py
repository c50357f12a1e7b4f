"""The tree keeps the shape docs/ARCHITECTURE.md describes.

Read from the source, not imported: module sizes, the import graph (every
import, including those inside functions and under TYPE_CHECKING) and who may
import the composition root.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sms_gateway", "handlers")
MAX_LINES = 500
# The reply catalogue: every SMS text the gateway sends, kept in one place on purpose.
CATALOGUE = "sms_gateway.replies"
# The entry points above the composition root: they build a Gateway and hand it on.
ENTRY_POINTS = (
    "sms_gateway.app",
    "sms_gateway.wsgi",
    "sms_gateway.cli",
    "sms_gateway.channels.gammu.smsd",  # gammu-receive, which Gammu SMSD runs
)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """Yield the project modules ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target
                break


def _within(name: str, packages: tuple[str, ...]) -> bool:
    """Return True when module ``name`` is one of ``packages`` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in packages)


GRAPH = {name: set(_imported(name, path)) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Return the import graph's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    # A parser that found nothing would pass every other test here.
    assert "handlers.routes" in GRAPH["sms_gateway.gateway"]
    assert "sms_gateway.models" in GRAPH["sms_gateway.application.inbox"]


def test_no_import_cycle() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("name", sorted(set(MODULES) - {CATALOGUE}))
def test_module_is_small(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_only_entry_points_import_the_composition_root() -> None:
    importers = {name for name, targets in GRAPH.items() if "sms_gateway.gateway" in targets}
    outside = {n for n in importers if not _within(n, ENTRY_POINTS)}
    assert outside == set()


def test_handlers_never_reach_the_transports_or_the_root() -> None:
    above = (
        "sms_gateway.gateway",
        "sms_gateway.app",
        "sms_gateway.cli",
        "sms_gateway.channels",
        "sms_gateway.pages",
    )
    for name, targets in GRAPH.items():
        if _within(name, ("handlers", "sms_gateway.services", "sms_gateway.application")):
            assert not {t for t in targets if _within(t, above)}, name


TOP = {"sms_gateway", "handlers", "migrations", "deploy", "tests", "bench"}


def _map_rows() -> list[tuple[list[str], str]]:
    """Return the README's "How it works" table: the paths of each row, and its text."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it works", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        where, what = line.split(" | ", 1)
        names = [part.split("`")[0] for part in where.split("`")[1::2]]
        first = Path(names[0])
        base = first if names[0].endswith("/") else first.parent
        # A name of its own top-level folder stands alone; others are the first's neighbours.
        paths = [n if n.split("/")[0] in TOP else str(base / n) for n in names[1:]]
        rows.append(([names[0], *paths], what))
    return rows


def test_the_readme_map_names_only_what_exists() -> None:
    rows = _map_rows()
    assert len(rows) > 20
    for paths, what in rows:
        for path in paths:
            assert (ROOT / path).exists(), path
        base = ROOT / paths[0]
        for name in what.split("`")[1::2]:
            if name.endswith(".py") and base.is_dir():
                assert list(base.rglob(name)), f"{name} (in the row of {paths[0]})"


def test_the_readme_map_covers_every_module() -> None:
    named = [p.rstrip("/") for paths, _ in _map_rows() for p in paths]
    for path in MODULES.values():
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py":
            relative = relative.rpartition("/")[0]  # a package is named by itself or its modules
            inside = [
                n for n in named if relative.startswith(n + "/") or n.startswith(relative + "/")
            ]
            assert inside or relative in named, relative
            continue
        assert any(relative == n or relative.startswith(n + "/") for n in named), relative


def test_the_architecture_doc_names_only_what_exists() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tracked = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if ".venv" not in p.parts]
    names = {w.strip("`") for w in text.split() if w.strip("`(),.:").endswith((".py", "/"))}
    checked = 0
    for name in names:
        name = name.strip("`(),.:")
        if "<" in name or len(name) < 4 or ("/" not in name and not name.endswith(".py")):
            continue
        checked += 1
        assert any(t == name.rstrip("/") or t.endswith("/" + name.rstrip("/")) for t in tracked), (
            name
        )
    assert checked > 20


def test_the_domain_never_reaches_up_to_the_application_layer() -> None:
    # The router learns the handlers from handlers/routes.py; the services never
    # see a message, a route or a handler.
    for name, targets in GRAPH.items():
        if _within(name, ("sms_gateway.application",)):
            assert not {t for t in targets if _within(t, ("handlers",))}, name
        if _within(name, ("sms_gateway.services", "sms_gateway.rules", "sms_gateway.models")):
            upward = {t for t in targets if _within(t, ("handlers", "sms_gateway.application"))}
            assert not upward, name
