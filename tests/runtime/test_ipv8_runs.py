"""IPv8 experiments end to end: real peer processes, real IPv8 over UDP on 127.0.0.1.

Gumby's own tutorial files are read in place from the corpus (never copied; missing under CI=true is a
failure), the project's ping-pong example runs as the README says, two runs at once stay apart, and
misuse ends with a clear error and nothing left running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "simple_ipv8"
DATA = Path(__file__).resolve().parent / "data" / "ipv8"


def gscen_run(
    conf: Path, out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenario_lang.cli", "run", str(conf), "--output", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def peer_log(out: Path, peer: int) -> str:
    """The stderr of the process that was peer `peer` (the summary maps processes to peers)."""
    summary = json.loads((out / "summary.json").read_text())
    (entry,) = [p for p in summary["peers"] if p["peer"] == peer]
    if entry["stderr"] is None:  # a peer that failed before its id is matched to no process
        return "".join(path.read_text() for path in sorted(out.glob("*.err")))
    return (out / entry["stderr"]).read_text()


def published_ports(out: Path) -> dict[int, int]:
    document = json.loads((out / "1" / "all_vars.txt").read_text())
    return {int(peer): int(entry["port"]) for peer, entry in document["clients"].items()}


def assert_nothing_left(out: Path) -> None:
    """No process works in the run's folder any more, and every UDP port the peers had is free."""
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                continue
            if proc.cwd().startswith(str(out)):
                left.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert not left, f"still running: {left}"
    if (out / "1" / "all_vars.txt").is_file():
        for port in published_ports(out).values():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("0.0.0.0", port))  # raises if a peer's socket were still open


def experiment(folder: Path, scenario: str, *, instances: int = 2, module: Path = DATA / "misuse.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "ping_pong.py", folder / "ping_pong.py")
    shutil.copy(module, folder / module.name)
    (folder / "exp.scenario").write_text(scenario)
    conf = folder / "exp.conf"
    conf.write_text(
        f"experiment_name = e\ninstances_to_run = {instances}\nscenario_file = exp.scenario\n"
        "experiment_time = 30\nsync_port = __unique_port__\n"
    )
    return conf


# ------------------------------------------------------------------------------- Gumby's tutorials
def test_gumbys_ping_pong_tutorial_runs_unchanged_from_the_corpus(tutorials: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gscen_run(tutorials / "simple_ipv8.conf", out)
    assert result.returncode == 0, result.stderr
    first, second = peer_log(out, 1), peer_log(out, 2)
    assert "Sending ping to peer" in first and "Received pong from peer" in first
    assert "Received ping from peer" in second
    # The tutorial's module imports `from ipv8.types import Peer`: pyipv8 3.x has no such module.
    assert "ModuleNotFoundError" not in first + second
    assert_nothing_left(out)


def test_gumbys_write_ids_tutorial_module_runs_unchanged_and_its_post_processing_sums(
    tutorials: Path, tmp_path: Path
) -> None:
    # The corpus' `gumby/` folder lacks Gumby's sources: it must not hide gscen's `gumby.experiment`.
    assert (tutorials.parents[1] / "gumby").is_dir()
    assert not (tutorials.parents[1] / "gumby" / "experiment.py").exists()
    conf = tmp_path / "exp" / "write_ids.conf"
    conf.parent.mkdir()
    # The tutorial's post-processing (gumby.statsparser.StatisticsParser) runs from the corpus too.
    post = f"{sys.executable} {tutorials / 'post_process_write_ids.py'} ."
    conf.write_text(
        f"experiment_name = write_ids\ninstances_to_run = 5\nexperiment_time = 20\n"
        f"scenario_file = {tutorials / 'write_ids.scenario'}\nsync_port = __unique_port__\n"
        f"post_process_cmd = {post}\n"
    )
    out = tmp_path / "out"
    result = gscen_run(conf, out)
    assert result.returncode == 0, result.stderr
    for peer in range(1, 6):
        assert (out / str(peer) / "id.txt").read_text() == str(peer)
    assert (out / "sum_id.txt").read_text() == "15"


# ------------------------------------------------------------------------------- the example
def test_the_ping_pong_example_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gscen_run(EXAMPLE / "simple_ipv8.conf", out)
    assert result.returncode == 0, result.stderr
    first, second = peer_log(out, 1), peer_log(out, 2)
    assert len(re.findall(r"Sending ping to peer Peer<127\.0\.0\.1:\d+", first)) == 1
    assert len(re.findall(r"Received pong from peer Peer<127\.0\.0\.1:\d+", first)) == 1
    assert "Received ping from peer" in second
    assert (out / "1" / "pongs.txt").read_text() == "1\n"
    ports = published_ports(out)
    for peer in (1, 2):
        folder = out / str(peer)
        # The port published is the port IPv8 bound; the keys stay in the peer's folder.
        bound = re.search(r"IPv8 started on port (\d+)", peer_log(out, peer))
        assert bound is not None and int(bound[1]) == ports[peer]
        assert (folder / f"tc_keypair_{peer}").is_file() and (folder / f"tc_keypair_{peer}.pub").is_file()
        assert (folder / "verified_peers.txt").read_text().split() == [str(3 - peer)]
        assert (folder / "ipv8_statistics.txt").is_file()
    # The message statistics: summed in the summary, drawn with the run's plots.
    summary = json.loads((out / "summary.json").read_text())
    totals = {(m["overlay"], m["message"]): m for m in summary["ipv8_messages"]}
    for message in (1, 2):  # one ping and one pong, each sent by one peer and received by the other
        row = totals["PingPongCommunity", message]
        assert (row["peers"], row["sent"], row["received"]) == (2, 1, 1) and row["bytes_sent"] > 0
    assert "ipv8_messages.png" in summary["plots"]
    assert (out / "ipv8_messages.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "IPv8 messages (all peers)" in result.stdout + result.stderr
    assert_nothing_left(out)


def test_three_peers_peer_one_receives_exactly_two_pongs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gscen_run(EXAMPLE / "simple_ipv8.conf", out, "--instances", "3")
    assert result.returncode == 0, result.stderr
    first = peer_log(out, 1)
    assert len(re.findall(r"Received pong from peer", first)) == 2
    assert (out / "1" / "pongs.txt").read_text() == "2\n"
    for peer in (2, 3):
        assert peer_log(out, peer).count("Received ping from peer") == 1
        assert "Received pong" not in peer_log(out, peer)


def _free_udp_base(span: int = 20) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("0.0.0.0", 0))
            base = int(s.getsockname()[1])
        if base + span < 65535:
            return base
    raise AssertionError("no free UDP port")


def test_two_runs_at_once_never_see_each_other(tmp_path: Path) -> None:
    # Both runs are told the same port base, so their ports collide as Gumby's 12000 + id did.
    env = {**os.environ, "GSCEN_IPV8_PORT_BASE": str(_free_udp_base())}
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "scenario_lang.cli", "run", str(EXAMPLE / "simple_ipv8.conf"),
             "--output", str(out), "--instances", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for out in outs
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    ports = [set(published_ports(out).values()) for out in outs]
    assert len(ports[0]) == len(ports[1]) == 3 and not ports[0] & ports[1]
    ids = []
    for out, own in zip(outs, ports, strict=True):
        logs = [peer_log(out, peer) for peer in (1, 2, 3)]
        found = {
            m for log in logs for m in re.findall(r"PingPongCommunity isolated: community id (\w+)", log)
        }
        assert len(found) == 1, found  # every peer of a run derives the same id
        ids.append(found.pop())
        for log in logs:
            seen = {int(p) for p in re.findall(r"from peer Peer<127\.0\.0\.1:(\d+)", log)}
            assert seen and seen <= own, (seen, own)
        for peer in (1, 2, 3):
            assert set((out / str(peer) / "verified_peers.txt").read_text().split()) == {"1", "2", "3"} - {
                str(peer)
            }
    assert ids[0] != ids[1]
    for out in outs:
        assert_nothing_left(out)


# ------------------------------------------------------------------------------- misuse
def failed_run_says(out: Path, result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] != "ok"
    errors = " ".join(e["message"] if "message" in e else json.dumps(e) for e in summary["errors"])
    logs = " ".join(peer_log(out, p["peer"]) for p in summary["peers"])
    assert text in errors + logs + result.stderr, (errors, result.stderr)
    # The run's own lines say it in one line each (the peer's log may keep the module's traceback).
    assert "Traceback" not in errors


def test_introduce_peers_before_start_session_is_a_clear_error(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "&module gumby.modules.base_ipv8_module.BaseIPv8Module\n&module ping_pong.PingPongModule\n"
        "@0:0 introduce_peers\n@0:1 start_session\n@0:2 stop\n",
    )
    out = tmp_path / "out"
    result = gscen_run(conf, out)
    failed_run_says(
        out, result, "introduce_peers: the IPv8 session has not started; call start_session first"
    )
    assert_nothing_left(out)


def test_a_community_whose_constructor_raises_fails_the_session_clearly(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "&module gumby.modules.base_ipv8_module.BaseIPv8Module\n&module misuse.BrokenModule\n"
        "@0:0 start_session\n@0:1 touch\n@0:2 stop\n",
    )
    out = tmp_path / "out"
    result = gscen_run(conf, out)
    failed_run_says(
        out, result, "starting the IPv8 session failed: RuntimeError: this community cannot be built"
    )
    # The peers went on with their scenario and stopped; their sockets are closed.
    assert (out / "1" / "touched.txt").exists() and (out / "2" / "touched.txt").exists()
    assert_nothing_left(out)


def test_an_explicit_port_already_taken_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("0.0.0.0", 0))
        taken = holder.getsockname()[1]
        conf = experiment(
            tmp_path / "x",
            "&module misuse.FixedPortIPv8\n@0:0 start_session\n@0:1 stop\n",
            instances=1,
        )
        out = tmp_path / "out"
        result = gscen_run(conf, out, env={**os.environ, "GSCEN_TEST_TAKEN_PORT": str(taken)})
    failed_run_says(out, result, f"UDP port {taken} on 0.0.0.0 is already in use")
    assert_nothing_left(out)
