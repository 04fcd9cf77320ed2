"""The package's rooms import downwards only: a room imports only itself and the rooms before it in
``ORDER`` (lazy imports inside functions included), so the tree reads as a map with no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vsinr"
#: Lowest first: I/O, shared operations, networks, the plugin contract, frame serving, engines, the
#: VapourSynth boundary, evaluation, training, the application.
ORDER = ["io", "ops", "nn", "host", "serving", "runtime", "bridge", "evaluation", "training", "app"]


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "vsinr" and parts[1] in ORDER else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "vsinr":  # ``from vsinr import io``
                found += [(node.lineno, f"vsinr.{alias.name}") for alias in node.names]
    return found


def test_every_module_lives_in_a_room() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the rooms: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(ORDER)


def test_rooms_import_only_downwards() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        own = _room("vsinr." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for line, module in _imports(path):
            other = _room(module)
            if own and other and ORDER.index(other) > ORDER.index(own):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {module}")
    assert wrong == []


def test_no_module_is_too_long_to_read() -> None:
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_no_import_cycle_between_modules() -> None:
    """Module-level imports (the ones that run at import time) form no cycle; lazy imports inside
    functions may point anywhere a room may import."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        found = set()
        for node in tree.body:  # top level only
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from package import module`` depends on the module (its package is a parent, loaded first)
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                found |= subs if len(subs) == len(node.names) else subs | {node.module}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        edges[name] = {m for m in found if m in modules and m != name}

    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for other in sorted(edges[name]):
            assert state.get(other) != 1, f"import cycle: {' -> '.join(trail + [name, other])}"
            if other not in state:
                visit(other, trail + [name])
        state[name] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [])
