"""Finding the files peers wrote: an experiment's output folder -> (peer id, file, peer folder).

For post-processing scripts, like Gumby's `StatisticsParser.yield_files` (docs/compatibility.md,
"Post-processing"), but deterministic: peers come in ascending id order, and the files of one peer in
path order.

    import os
    from scenario_lang.runtime.statistics import iter_peer_files

    total = 0
    for peer_id, path, peer_dir in iter_peer_files(os.environ["OUTPUT_DIR"], "id.txt"):
        total += int(path.read_text())

Two layouts are searched, both at once:

* local: `OUTPUT/<peer>/`;
* DAS: `OUTPUT/<head>/<node>/<peer>/` (e.g. `OUTPUT/localhost/node301/7/`), where `<head>` is not a
  number.

A peer folder's name is a whole decimal number (`7`, `007`); other folders are not peers (Gumby took any
name *starting* with digits and stopped at the first that was not an integer). Files are matched on
their base name with `fnmatch` rules, case-sensitively, anywhere below the peer folder (symbolic links to
folders are not followed), and only non-empty files are yielded.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .sync import expand_compact

__all__ = ["PeerDir", "PeerFile", "StatisticsParser", "iter_peer_dirs", "iter_peer_files", "read_all_vars"]


class PeerDir(NamedTuple):
    """A peer's output folder and its id."""

    peer_id: int
    path: Path


class PeerFile(NamedTuple):
    """A file a peer wrote: unpacks as `peer_id, file_path, peer_dir`, like Gumby's tuples."""

    peer_id: int
    file_path: Path
    peer_dir: Path


def _peer_id(name: str) -> int | None:
    return int(name) if name.isascii() and name.isdigit() else None


def _subdirs(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def iter_peer_dirs(output_dir: Path | str) -> Iterator[PeerDir]:
    """Every peer folder under `output_dir`, in both layouts, sorted by (peer id, path).

    A missing `output_dir` yields nothing.
    """
    root = Path(output_dir)
    found: list[PeerDir] = []
    for top in _subdirs(root):
        peer_id = _peer_id(top.name)
        if peer_id is not None:
            found.append(PeerDir(peer_id, Path(top.path)))
            continue
        # DAS layout: <head>/<node>/<peer>
        for node in _subdirs(Path(top.path)):
            for peer in _subdirs(Path(node.path)):
                peer_id = _peer_id(peer.name)
                if peer_id is not None:
                    found.append(PeerDir(peer_id, Path(peer.path)))
    found.sort(key=lambda d: (d.peer_id, str(d.path)))
    return iter(found)


def iter_peer_files(output_dir: Path | str, pattern: str) -> Iterator[PeerFile]:
    """Every non-empty file whose base name matches `pattern`, below each peer folder.

    Sorted by peer id, then by path inside the peer folder. `pattern` uses fnmatch rules (`*.csv`,
    `annotations.csv`, `stat_[0-9].txt`), case-sensitively.
    """
    for peer in iter_peer_dirs(output_dir):
        matches: list[Path] = []
        for folder, dirnames, filenames in os.walk(peer.path):
            dirnames.sort()
            for name in filenames:
                if fnmatch.fnmatchcase(name, pattern):
                    path = Path(folder, name)
                    try:
                        if path.is_file() and path.stat().st_size > 0:
                            matches.append(path)
                    except OSError:
                        continue
        matches.sort(key=lambda p: p.relative_to(peer.path).parts)
        for path in matches:
            yield PeerFile(peer.peer_id, path, peer.path)


class StatisticsParser:
    """Gumby-shaped wrapper, for ported post-processing scripts: subclass it and override `run()`.

    `StatisticsParser(node_dir).yield_files("*.csv")` yields the same as
    `iter_peer_files(node_dir, "*.csv")`.
    """

    def __init__(self, node_directory: Path | str) -> None:
        self.node_directory = Path(node_directory)

    def yield_files(self, file_to_check: str) -> Iterator[PeerFile]:
        """`(peer_id, file_path, peer_dir)` for each non-empty matching file, sorted by peer id."""
        return iter_peer_files(self.node_directory, file_to_check)

    def run(self) -> None:
        """Do the post-processing; subclasses override this."""
        raise NotImplementedError


def read_all_vars(path: Path | str) -> dict[str, dict[str, Any]]:
    """Every peer's vars from a peer's `all_vars.txt`: peer id (a string) -> its vars, Gumby's map.

    Reads both forms of the document (runtime/sync.py): Gumby's, and the compact one gscen's peers
    receive (and write) from gscen's sync server, which this expands to the same map.
    """
    document = json.loads(Path(path).read_bytes())
    if "gscen" in document:
        return expand_compact(document)
    clients: dict[str, dict[str, Any]] = document["clients"]
    return clients
