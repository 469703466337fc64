"""The boxes of the architecture diagram (docs/architecture/index.md) are folders, and the routes stay thin: a route module holds
no domain logic (it reads the request, calls one box, shapes the answer), never touches the
tables or AWS directly, and no route function grows past a few statements."""
import ast
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
ROUTES = sorted(p for p in (FUNCTIONS / "api").glob("*.py") if p.stem not in ("__init__", "http", "openapi"))
BOXES = ("api", "providers", "domain", "store", "dispatch", "notify", "dashboard")
KERNEL = {"__init__", "app", "clock", "config", "errors"}   # shared by every box
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
