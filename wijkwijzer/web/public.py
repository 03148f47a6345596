"""What the public may see of the server's state: no paths of the server's folders (the editors' page has them)."""

from __future__ import annotations

import re
from pathlib import PurePath

# An absolute path (POSIX or Windows) up to the next space or quote; one character class, so linear.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])(?:[A-Za-z]:)?[/\\][^\s'\"`<>]+")


def without_paths(text: str | None) -> str | None:
    """`text` with every absolute path replaced by "(map)"."""
    return _ABSOLUTE_PATH.sub("(map)", text) if text else text


def public_status(status: dict) -> dict:
    """`Services.status()` for `/api/v1/status` and public pages: folder names only, no paths in errors."""
    semantic = dict(status.get("semantic") or {})
    model = semantic.get("model") or ""
    if "/" in model or "\\" in model:
        semantic["model"] = PurePath(model).name  # a model folder: its name, not where it lives
    semantic["error"] = without_paths(semantic.get("error"))
    storage = dict(status.get("storage") or {})
    storage["error"] = without_paths(storage.get("error"))
    return {**status, "semantic": semantic, "storage": storage}
