"""Check that DriftDB's imports point down its layers and form no cycle.

Every import statement counts: top-level, function-local and those under `TYPE_CHECKING`
(a cycle hidden from the interpreter is still a cycle for a reader). Run by `make lint`;
exits 1 and names each offending import.

The layers, from the top (a module may import its own layer and the ones below it):
    cli          the command line: imports the API and the parser
    api          driftdb (the package), database, table, doctor: a façade that delegates;
                 export (Delta Lake), which reads through the API's read views;
                 dbapi, frames, duckdb_bridge: interfaces to other tools, over the façade
    query        DriftQL, pure over a read view and a schema, through Protocols it defines
    maintenance  compaction, retention, purge, doctor: over the engine's handles
    engine       the only code that holds file descriptors, LMDB environments or the lock
    index        key codec and the LMDB store
    storage      bytes and files: file layer, lock, frames, segments, snapshots, file names
    model        events, documents, merge patch, replay, time points, schema, clock
    errors       the exception hierarchy, imported by every layer
`query` additionally never imports `engine` or `maintenance`: it sees them through Protocols;
`cli` reaches the database only through the API (and the parser), never the layers under it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS = ["errors", "model", "storage", "index", "engine", "maintenance", "query", "api", "cli"]
FORBIDDEN = {
    "query": {"engine", "maintenance"},
    "cli": {"engine", "maintenance", "index", "storage"},
}
PACKAGE = "driftdb"
# API-level modules beside database.py and table.py: they may import the API and below.
API_MODULES = ("dbapi", "frames", "duckdb_bridge")


def layer_of(module: str) -> str:
    """The layer of a module of the package, by its first component below `driftdb`."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("database", "table", "doctor", "export", *API_MODULES):
        return "api"
    if parts[1] == "__main__":
        return "cli"
    if parts[1] in LAYERS:
        return parts[1]
    raise ValueError(f"module {module} is in no layer: add it to scripts/check_layers.py")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) for every import of the package in a file, wherever it stands."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(root, path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in known else base))
    return [(line, name) for line, name in found if name.split(".")[0] == PACKAGE]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the module graph, as the list of its modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def check(src: Path) -> list[str]:
    """Every violation under `src` (the directory holding the `driftdb` package)."""
    files = sorted((src / PACKAGE).rglob("*.py"))
    known = {module_name(src, f) for f in files}
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for path in files:
        here = module_name(src, path)
        mine = layer_of(here)
        graph[here] = set()
        for line, target in imports_of(src, path, known):
            if target == here or target not in known:
                continue
            graph[here].add(target)
            theirs = layer_of(target)
            upward = LAYERS.index(theirs) > LAYERS.index(mine)
            if upward or theirs in FORBIDDEN.get(mine, set()):
                where = path.relative_to(src)
                problems.append(f"{where}:{line}: {mine} layer imports {target} ({theirs} layer)")
    # A package's __init__ re-exporting its own modules is not a cycle of concepts.
    for name, targets in graph.items():
        targets -= {t for t in targets if name and t.startswith(name + ".")}
        if name == PACKAGE:
            targets.clear()  # the public API imports everything by design
    cycle = find_cycle(graph)
    if cycle is not None:
        problems.append("import cycle: " + " -> ".join(cycle))
    return problems


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "src"
    problems = check(src)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering problem(s): imports must point down (see {__file__})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
