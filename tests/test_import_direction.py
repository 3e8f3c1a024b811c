"""The arrows of docs/ARCHITECTURE (../shared/ARCHITECTURE.md): an area imports only the areas below it. Each
area's modules are imported in a fresh interpreter and the areas that got loaded are compared with the allowed
ones, so a stray top-level import fails here rather than in a review."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AREAS = ("local_models", "retrieval", "memory", "tools", "agent", "evals")
ALLOWED = {
    "local_models": set(),
    "retrieval": set(),
    "memory": {"retrieval"},
}
# modules that are entry points of a higher layer on purpose (a harness runs the whole agent)
ENTRY_POINTS = {"memory.evaluation"}


def _modules(area: str) -> list[str]:
    names = [area]
    for info in pkgutil.walk_packages([str(ROOT / area)], prefix=f"{area}."):
        if ".data" not in info.name and info.name not in ENTRY_POINTS:
            names.append(info.name)
    return names


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_an_area_imports_only_the_areas_below_it(area: str) -> None:
    modules = _modules(area)
    code = (
        "import importlib, sys, json\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({AREAS!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1])) - {area}
    assert loaded <= ALLOWED[area], f"{area} imports {sorted(loaded - ALLOWED[area])}"
