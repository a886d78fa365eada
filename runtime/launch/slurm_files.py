"""What the submitting side of a SLURM run and each node's task share through the file system.

Both sides import this module and nothing of each other: the folders and file names under
OUTPUT_DIR/.gscen/ (`slurm/` for the submitting side's files, `nodes/<rank>/` for each node's), how the
peers are shared out over the nodes (`node_share`, `first_id`, `process_number`), the node spec each
node reads (`NodeSpec`, `node-spec.json`), and the `status.json` each node writes about once a second:
its guard's processes (`report_to_json` / `report_from_json`, `node_reports` numbering them run-wide)
and the faults it carried out (`fault_to_json` / `fault_from_json`). slurm.py submits and watches the
job; slurm_node.py is each node's task.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..guard import ProcessReport
from ..process_faults import PlannedFault
from ..summary import FaultRecord

SLURM_FOLDER: Final = ".gscen/slurm"
NODES_FOLDER: Final = ".gscen/nodes"
SPEC_NAME: Final = "node-spec.json"
TOKEN_NAME: Final = "token"
STATUS_NAME: Final = "status.json"
START_NAME: Final = "start.json"
RELEASE_NAME: Final = "release.json"


# --------------------------------------------------------------------------------------------- shares
def node_share(instances: int, nodes: int, rank: int) -> int:
    """How many peers node `rank` (0-based) runs: an equal share, the first `instances % nodes` one more."""
    return instances // nodes + (1 if rank < instances % nodes else 0)


def first_id(instances: int, nodes: int, rank: int) -> int:
    """The id of node `rank`'s first peer: ids run on from the previous node's."""
    return rank * (instances // nodes) + min(rank, instances % nodes) + 1


def process_number(instances: int, nodes: int, rank: int, index: int) -> int:
    """The run-wide number of node `rank`'s process `index` (its guard's numbering): a node's first
    processes follow on from the previous node's (peer k is number first_id - 1 + k); the processes
    a restart adds come after all of those, interleaved by node (node r's j-th restart is
    instances + j * nodes + r), so no two nodes give the same number."""
    count = node_share(instances, nodes, rank)
    if index < count:
        return first_id(instances, nodes, rank) - 1 + index
    return instances + (index - count) * nodes + rank


# --------------------------------------------------------------------------------------------- node spec
@dataclass(frozen=True, slots=True)
class NodeSpec:
    """What each node's task reads (`node-spec.json`): the peers' command and the guard's settings.

    `output_dir`: the run's OUTPUT_DIR (every node sees it); `token_file`: where the token is (None:
    no token); `node_dir`: node-local folder to run in, copied back at the end (None: none);
    `faults`: the scenario's process faults, each node carrying out those of its own peers.
    """

    instances: int
    nodes: int
    command: str
    output_dir: str
    cwd: str | None
    timeout: float | None
    interval: float
    grace: float
    network: bool
    token_file: str | None
    node_dir: str | None = None
    peer_python: str | None = None
    faults: tuple[PlannedFault, ...] = ()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> NodeSpec:
        data = json.loads(text)
        fields = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        fields["faults"] = tuple(
            PlannedFault(float(f["time"]), str(f["action"]), tuple(map(int, f["peers"])), str(f["source"]))
            for f in fields.get("faults", ())
        )
        return cls(**fields)

    def node_folder(self, rank: int) -> Path:
        return Path(self.output_dir) / NODES_FOLDER / str(rank)

    @property
    def start_path(self) -> Path:
        """Where the submitting side writes the run's start instant (`{"start": seconds}`)."""
        return Path(self.output_dir) / SLURM_FOLDER / START_NAME

    @property
    def release_path(self) -> Path:
        """Where the submitting side says that every process of the run still running is paused
        (`{"time": seconds}`): each node then resumes its paused ones (`SlurmJob.release_paused`)."""
        return Path(self.output_dir) / SLURM_FOLDER / RELEASE_NAME

    def faults_on(self, rank: int) -> int:
        """How many fault records node `rank` makes for the scenario's faults (one per peer of its
        own that each fault names): when its status lists that many, its schedule is over."""
        first = first_id(self.instances, self.nodes, rank)
        mine = range(first, first + node_share(self.instances, self.nodes, rank))
        return sum(1 for fault in self.faults for peer in fault.peers if peer in mine)

    def number(self, rank: int, index: int) -> int:
        """The run-wide number of node `rank`'s process `index` (see `process_number`)."""
        return process_number(self.instances, self.nodes, rank, index)


def report_to_json(report: ProcessReport) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    for key in ("stdout_path", "stderr_path"):
        data[key] = None if data[key] is None else str(data[key])
    return data


def node_reports(
    status: Mapping[str, Any], spec: NodeSpec, rank: int, folder: Path | None = None
) -> list[ProcessReport]:
    """Node `rank`'s processes as the pipeline sees them: numbered run-wide, output files where they
    end up in `folder` (None: no files); a restart's files are those of the first process of its
    peer, in which it wrote on (a restart of a restart too); each with the peer id it runs as, from
    the status (the submitting side never matches a node's processes by pid: two hosts can share one)."""
    entries = [d for d in status.get("processes", ()) if isinstance(d, dict)]
    replaced = {int(d["index"]): int(d["restart_of"]) for d in entries if d.get("restart_of") is not None}
    out = []
    for data in entries:
        first = int(data["index"])
        while first in replaced:
            first = replaced[first]
        peer = data.get("peer")
        if not isinstance(peer, int):  # a node that did not say: its guard's command k is first_id + k
            peer = first_id(spec.instances, spec.nodes, rank) + first
        out.append(report_from_json(data, spec, rank, folder, spec.number(rank, first), peer))
    return out


def node_peer_ids(reports: Sequence[ProcessReport], first: int) -> dict[int, int]:
    """A node guard's process index -> the peer id it runs as: command k is peer `first` + k (its
    GSCEN_PEER_ID); a restart runs as the peer of the process it started again."""
    restart_of = {r.index: r.restart_of for r in reports if r.restart_of is not None}
    out = {}
    for report in reports:
        index = report.index
        while index in restart_of:
            index = restart_of[index]
        out[report.index] = first + index
    return out


def report_from_json(
    data: Mapping[str, Any], spec: NodeSpec, rank: int, folder: Path | None, files_of: int, peer: int | None
) -> ProcessReport:
    """One process of node `rank`, numbered run-wide, running as `peer`; its files are process
    `files_of`'s in `folder`."""
    index = spec.number(rank, int(data["index"]))
    restart_of = data.get("restart_of")
    restart_of = None if restart_of is None else spec.number(rank, int(restart_of))
    out = err = None
    if folder is not None and data.get("stdout_path") is not None:
        out, err = folder / f"{files_of:05d}.out", folder / f"{files_of:05d}.err"
    return ProcessReport(
        index=index,
        command=str(data["command"]),
        pid=int(data["pid"]),
        returncode=None if data["returncode"] is None else int(data["returncode"]),
        stopped_by_guard=bool(data["stopped_by_guard"]),
        peak_rss_bytes=int(data["peak_rss_bytes"]),
        cpu_seconds=float(data["cpu_seconds"]),
        started_at=float(data["started_at"]),
        ended_at=None if data["ended_at"] is None else float(data["ended_at"]),
        stdout_path=out,
        stderr_path=err,
        fault=None if data.get("fault") is None else str(data["fault"]),
        restart_of=restart_of,
        peak_pss_bytes=int(data.get("peak_pss_bytes", 0)),
        peak_uss_bytes=int(data.get("peak_uss_bytes", 0)),
        peer=peer,
        node=rank,
    )


def fault_to_json(record: FaultRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)


def fault_from_json(data: Mapping[str, Any]) -> FaultRecord:
    actual = data.get("actual")
    return FaultRecord(
        peer=int(data["peer"]),
        action=str(data["action"]),
        planned=float(data["planned"]),
        actual=None if actual is None else float(actual),
        source=str(data["source"]),
        outcome=str(data["outcome"]),
    )


def node_status(folder: Path) -> dict[str, Any] | None:
    """Node folder `folder`'s last `status.json`, or None while it has none (or one half-read)."""
    try:
        data = json.loads((folder / STATUS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
