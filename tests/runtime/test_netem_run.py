"""Network conditions in a real run: IPv8 peers (real processes, UDP on 127.0.0.1) under a scenario's
`partition` and `heal`, `latency` and `loss`: messages counted per group, packets counted per peer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "netem"

SCENARIO = """\
&module gumby.modules.base_ipv8_module.BaseIPv8Module
&module netem_mesh.NetemMeshModule
@0:0 isolate_ipv8_overlay NetemMeshCommunity
@0:0 start_session
@0:1 introduce_peers
@0:2 partition 1-2 3-4
@0:2.5 greet_everyone 1
@0:3.5 heal
@0:4 greet_everyone 2
@0:5 latency 20ms {1}
@0:5 loss 100% {4}
@0:5.5 greet_everyone 3
@0:6.5 write_hellos
@0:7 stop_session
@0:7.5 stop
"""


def test_partition_stops_delivery_between_groups_heal_restores_it_and_peers_count_packets(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(DATA / "netem_mesh.py", folder / "netem_mesh.py")
    (folder / "mesh.scenario").write_text(SCENARIO, encoding="utf-8")
    (folder / "mesh.conf").write_text(
        "experiment_name = netem\ninstances_to_run = 4\nscenario_file = mesh.scenario\n"
        "experiment_time = 30\nsync_experiment_start_delay = 0.5\nseed = 5\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scenario_lang.cli",
            "run",
            str(folder / "mesh.conf"),
            "-o",
            str(out),
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    got: dict[int, dict[int, set[int]]] = {}
    for peer in (1, 2, 3, 4):
        for line in (out / str(peer) / "hellos.txt").read_text().splitlines():
            phase, sender = map(int, line.split())
            got.setdefault(peer, {}).setdefault(phase, set()).add(sender)
    # phase 1, partitioned: only the own group's greetings arrive
    assert {p: got[p].get(1, set()) for p in got} == {1: {2}, 2: {1}, 3: {4}, 4: {3}}
    # phase 2, healed: everyone's
    assert {p: got[p].get(2, set()) for p in got} == {p: {1, 2, 3, 4} - {p} for p in (1, 2, 3, 4)}
    # phase 3: peer 4 loses everything it sends; peer 1's packets are late, not lost
    assert {p: got[p].get(3, set()) for p in got} == {p: {1, 2, 3} - {p} for p in (1, 2, 3, 4)}
    summary = json.loads((out / "summary.json").read_text())
    peers = {p["peer"]: p for p in summary["peers"]}
    assert all(peers[p]["packets_dropped"] >= 2 for p in (1, 2, 3, 4))  # the greetings across groups
    assert peers[1]["packets_delayed"] >= 3
    assert peers[4]["packets_dropped"] >= 2 + 3
    result = json.loads((out / "1" / "result.json").read_text())
    assert result["network"]["dropped_partition"] >= 2 and result["network"]["links"]


def test_a_seeded_peer_key_is_the_same_in_every_run_and_kept_in_its_folder(tmp_path: Path) -> None:
    from scenario_lang.runtime.ipv8.session import load_or_create_key
    from scenario_lang.runtime.seeds import derive_bytes

    first = load_or_create_key(tmp_path / "a" / "key", derive_bytes(5, "ipv8-key", 3))
    again = load_or_create_key(tmp_path / "b" / "key", derive_bytes(5, "ipv8-key", 3))
    other = load_or_create_key(tmp_path / "c" / "key", derive_bytes(6, "ipv8-key", 3))
    assert first.pub().key_to_bin() == again.pub().key_to_bin() != other.pub().key_to_bin()
    assert load_or_create_key(tmp_path / "a" / "key").key_to_bin() == first.key_to_bin()  # from the file
    assert first.signature(b"x") and first.pub().verify(first.signature(b"x"), b"x")
