"""The rooms of the house and which way imports may go (issue 15): runtime code never imports from the
API, the developer tools, the benchmarks or the tests, and the pure rules import nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# room -> the rooms it may import from (its own room always)
ALLOWED: dict[str, set[str]] = {
    "domain": set(),  # pure rules: no I/O, no Temporal, nothing of ours
    "core": {"domain"},
    "db": {"core", "domain"},
    "activities": {"core", "db", "domain"},
    "workflows": {"activities", "core", "domain"},
    "channels": {"core", "db", "domain"},
    "worker": {"activities", "channels", "core", "db", "domain", "workflows"},
    "ops": {"activities", "channels", "core", "db", "domain", "workflows", "worker"},
    "api": {"activities", "channels", "core", "db", "domain", "ops", "workflows"},
    "devtools": {"activities", "channels", "core", "db", "domain", "ops", "workflows", "worker"},
    "bench": {"activities", "channels", "core", "db", "devtools", "domain", "ops", "workflows", "worker", "api"},
}
ROOMS = set(ALLOWED) | {"tests"}


def room_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT)
    name = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    return name if name in ROOMS else None


def imported_rooms(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & ROOMS


def violations(room: str, source: str) -> set[str]:
    return imported_rooms(source) - ALLOWED[room] - {room}


def python_files():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).parts
        if rel[0].startswith(".") or rel[0] in {"data", "node_modules"} or "site-packages" in rel:
            continue
        room = room_of(path)
        if room and room != "tests":
            yield room, path


def test_every_import_goes_the_allowed_way():
    wrong = [f"{path.relative_to(ROOT)} ({room}) imports {sorted(bad)}"
             for room, path in python_files() if (bad := violations(room, path.read_text()))]
    assert not wrong, "imports against the layering (tests/test_layout.py ALLOWED):\n" + "\n".join(wrong)


def test_nothing_outside_the_api_and_its_tests_imports_the_api():
    assert all("api" not in rooms or room in {"api", "bench"}
               for room, rooms in ((room, ALLOWED[room]) for room in ALLOWED))
    # a negative control: the check does catch an upward import
    assert violations("ops", "from api.deps import get_session\n") == {"api"}
    assert violations("domain", "import db.models\n") == {"db"}
    assert violations("core", "from devtools.seed import main\n") == {"devtools"}


def test_every_top_level_package_has_a_room():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= ROOMS, f"new top-level packages need a line in ALLOWED: {sorted(packages - ROOMS)}"


def test_devtools_keeps_only_developer_tools():
    assert {p.stem for p in (ROOT / "devtools").glob("*.py")} <= {"__init__", "dev", "seed", "network"}
