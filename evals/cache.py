"""The run directory's per-item cache: one JSON file per (item, configuration, repeat), written atomically.

A file exists only when its work finished (written to a temporary name, then renamed), so a run killed at any
point leaves finished items cached and nothing half-written: running the same suite into the same directory
again redoes only what is missing. Keys hash the item's content too: an edited question is asked again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from evals.dataset import Item
from evals.errors import EvalError


def item_digest(item: Item) -> str:
    return hashlib.sha256(json.dumps(item.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


class RunCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, kind: str, key: str, item: Item, repeat: int) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in item.id)
        return self.root / kind / key / f"{safe}-{item_digest(item)}-r{repeat}.json"

    def get(self, kind: str, key: str, item: Item, repeat: int) -> dict[str, Any] | None:
        path = self.path(kind, key, item, repeat)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:  # only an outside edit can do this: writes are atomic
            raise EvalError(f"{path} is not valid JSON ({exc}); delete it to redo that item.") from exc
        return data if isinstance(data, dict) else None

    def put(self, kind: str, key: str, item: Item, repeat: int, data: dict[str, Any]) -> None:
        path = self.path(kind, key, item, repeat)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
