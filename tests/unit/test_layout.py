"""The boxes of the architecture diagram (docs/architecture/index.md) are folders, and the routes stay thin: a route module holds
no domain logic (it reads the request, calls one box, shapes the answer), never touches the
tables or AWS directly, and no route function grows past a few statements. The boxes are ranked
and every import points down (an import scan of the source: no circle, no upward or sideways
import, no `functions.*` import inside a function)."""
import ast
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
ROUTES = sorted(p for p in (FUNCTIONS / "api").glob("*.py") if p.stem not in ("__init__", "http", "openapi"))
BOXES = ("api", "providers", "domain", "store", "dispatch", "notify", "dashboard")
KERNEL = {"__init__", "app", "clock", "config", "errors", "retention"}   # shared by every box
FORBIDDEN = ("pynamodb", "boto3", "botocore", "functions.store.models")
MAX_STATEMENTS = 4


def test_each_box_is_a_folder_and_nothing_else_sits_beside_them():
    assert all((FUNCTIONS / box / "__init__.py").is_file() for box in BOXES)
    loose = {p.stem for p in FUNCTIONS.glob("*.py")} - KERNEL
    assert not loose, f"modules outside the boxes: {sorted(loose)}; put each in its box's folder"


@pytest.mark.parametrize("module", ROUTES, ids=lambda p: p.stem)
def test_route_modules_import_no_tables_and_no_aws(module):
    tree = ast.parse(module.read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    bad = [m for m in imported if m.startswith(FORBIDDEN)]
    assert not bad, f"{module.name} imports {bad}: routes call the boxes, never the tables or AWS"


@pytest.mark.parametrize("module", ROUTES, ids=lambda p: p.stem)
def test_route_functions_stay_thin(module):
    tree = ast.parse(module.read_text())
    routes = [f for f in tree.body if isinstance(f, ast.FunctionDef)
              and any("route" in ast.unparse(d) for d in f.decorator_list)]
    assert routes, f"{module.name} has no routes"
    fat = {f.name: len(f.body) for f in routes
           if len([s for s in f.body if not isinstance(s, ast.Expr) or not isinstance(s.value, ast.Constant)])
           > MAX_STATEMENTS}
    assert not fat, f"{module.name}: {fat} statements; move the logic into its box (e.g. functions/dispatch/manual.py)"


# ---- layers point down only (STYLE §19) ----------------------------------------------------------
# A rank per box, top to bottom. A module imports only boxes of a lower rank (a higher number), or
# modules of its own box; two boxes of one rank (dispatch and notify, store and providers) never
# import each other. The kernel is config, clock, errors and retention; contract/ sits below it all.
RANK = {"app": 0, "api": 1, "dashboard": 2, "dispatch": 3, "notify": 3, "store": 4, "providers": 4,
        "domain": 5, "kernel": 6, "contract": 7}
CONTRACT = FUNCTIONS.parent / "contract"


def _module_name(path: Path) -> str:
    parts = path.relative_to(FUNCTIONS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for root in (FUNCTIONS, CONTRACT) for p in sorted(root.rglob("*.py"))}


def box(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "contract":
        return "contract"
    if len(parts) == 1 or (len(parts) == 2 and parts[1] != "app" and parts[1] not in BOXES):
        return "kernel"     # functions/__init__.py, config, clock, errors, retention
    return parts[1]


def _targets(node, module: str, is_package: bool) -> list[str]:
    """The modules of functions/ and contract/ an import statement loads (`from pkg import mod` -> pkg.mod)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
            base = ".".join(anchor + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return [n for n in names if n.split(".")[0] in ("functions", "contract") and n in MODULES]


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, imported inside a function body) for every import of functions/ or contract/."""
    path = MODULES[module]
    found = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((t, in_function) for t in _targets(child, module, path.stem == "__init__"))
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    walk(ast.parse(path.read_text()), False)
    return found


EDGES = {(m, t, inner) for m in MODULES for t, inner in _imports(m) if t != m}


def test_every_module_has_a_ranked_box():
    assert {box(m) for m in MODULES} <= set(RANK), {m: box(m) for m in MODULES if box(m) not in RANK}


def test_no_box_imports_a_box_above_it_or_beside_it():
    bad = sorted(f"{m} ({box(m)}) imports {t} ({box(t)})" for m, t, _ in EDGES
                 if box(m) != box(t) and RANK[box(m)] >= RANK[box(t)])
    assert not bad, ("layers point down only (STYLE §19: api -> dashboard -> dispatch, notify -> store, providers "
                     "-> domain -> kernel -> contract); move the shared part down instead:\n" + "\n".join(bad))


def test_no_functions_import_inside_a_function():
    bad = sorted(f"{m} imports {t} inside a function" for m, t, inner in EDGES
                 if inner)
    assert not bad, "a deferred import hides a cycle or an upward import; import at the top:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, t, _ in EDGES:
        graph[m].add(t)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles (each line one circle):\n" + "\n".join(" <-> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the import circles are its components of more than one module."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.add(top)
                        if top == node:
                            break
                    out.append(component)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out
