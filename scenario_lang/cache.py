"""A cache of `gscen check` results for unchanged inputs, in the user's cache folder.

An entry is found by the root scenario's path, its content hash and the check options; it is valid
while every file the check read (included scenarios, module sources, the `.conf`) still has the same
content hash and every environment variable the scenario looked up has the same value. Checks that
missed a module or an include are not cached: creating the missing file must change the answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .diagnostics import Diagnostic, Severity
from .files import write_atomically
from .nodes import Span

CACHE_VERSION = "2"  # 2: SC506 grouped per `stop`


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("gscen")) / "check"


def file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=16).hexdigest()
    except OSError:
        return None


def _key(root: str, root_digest: str, options: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in (CACHE_VERSION, _version(), os.path.abspath(root), root_digest, *options):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gscen")
    except PackageNotFoundError:
        return "dev"


def lookup(root: str, options: Sequence[str], environment: Mapping[str, str]) -> list[Diagnostic] | None:
    """The cached diagnostics for this check, or None when there is no valid entry."""
    digest = file_digest(root)
    if digest is None:
        return None
    entry_path = cache_dir() / f"{_key(root, digest, options)}.json"
    try:
        entry = json.loads(entry_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for path, want in entry["files"].items():
        if file_digest(path) != want:
            return None
    for name, value in entry["environment"].items():
        if environment.get(name) != value:
            return None
    return [_from_json(d) for d in entry["diagnostics"]]


def store(
    root: str,
    options: Sequence[str],
    files: Iterable[str],
    environment: Mapping[str, str | None],
    diagnostics: Iterable[Diagnostic],
) -> None:
    """Save a result; failures to write are ignored (the cache is only an accelerator)."""
    digest = file_digest(root)
    if digest is None:
        return
    entry = {
        "files": {p: file_digest(p) for p in sorted(set(files))},
        "environment": dict(environment),
        "diagnostics": [d.to_json() for d in diagnostics],
    }
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{_key(root, digest, options)}.json"
        write_atomically(target, json.dumps(entry), durable=False)  # a cache: losing it costs a check
    except OSError:
        return


def _from_json(d: Mapping[str, object]) -> Diagnostic:
    span = Span(str(d["path"]), int(d["line"]), int(d["column"]), int(d["end_line"]), int(d["end_column"]))  # type: ignore[call-overload]
    notes = d.get("notes") or []
    return Diagnostic(
        str(d["code"]),
        Severity(d["severity"]),
        str(d["message"]),
        span,
        tuple(str(n) for n in notes),  # type: ignore[attr-defined]
        None if d.get("suggestion") is None else str(d["suggestion"]),
        None if d.get("replacement") is None else str(d["replacement"]),
    )
