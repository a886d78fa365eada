"""`gscen peer` as real processes against the real sync server (in this process) on 127.0.0.1.

Each test compiles a scenario and a module file into a plan file, starts a `SyncServer`, starts the
peers as `gscen peer` subprocesses with Gumby's environment variables, and reads what they wrote.
Readiness is awaited (the server's `wait_go`, the processes' exit), never slept for.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import re
import shutil
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from scenario_lang.runtime.gumby_commands import peer_shell_command
from scenario_lang.runtime.sync import SyncServer, SyncServerConfig, new_token

from scenario_lang.plan import compile_plan, write_plan_file
from scenario_lang.project import CheckOptions, analyze

DEADLINE = 60.0
_names = itertools.count()

MODULE = '''
from __future__ import annotations
import asyncio
import json
import os
import time
from scenario_lang import ExperimentModule, experiment_callback


class Probe(ExperimentModule):
    """Writes what happens to it into files in the peer's folder."""

    def on_id_received(self) -> None:
        if os.environ.get("PROBE_FAIL_ID") == str(self.my_id):
            raise RuntimeError("hook failed on purpose")
        self.vars["probe"] = f"peer-{self.my_id}"
        with open("id_hook.txt", "w") as f:
            f.write(f"{self.my_id} {os.getcwd()}")

    def on_all_vars_received(self) -> None:
        with open("seen_vars.json", "w") as f:
            json.dump({k: v.get("probe") for k, v in self.all_vars.items()}, f)
        # Gumby's ExperimentClient helpers, as ported modules call them.
        peers = self.experiment.get_peers()
        address = self.experiment.get_peer_ip_port_by_id(peers[-1])
        with open("gumby_helpers.json", "w") as f:
            json.dump([peers, address, self.experiment.get_peer_id(*address)], f)

    def on_experiment_start(self) -> None:
        with open("started.txt", "w") as f:
            f.write(repr(time.time()))

    def on_message(self, from_id: int, msg_type: bytes, payload: bytes) -> None:
        with open("messages.txt", "a") as f:
            f.write(f"{from_id} {msg_type.decode()} {payload.decode()}\\n")

    async def on_stop(self) -> None:
        await asyncio.sleep(0.05)
        with open("on_stop.txt", "w") as f:
            f.write("done")

    @experiment_callback
    def greet(self, to: int) -> None:
        self.send_message(to, b"hello", f"from {self.my_id}".encode())

    @experiment_callback
    def fail(self, n: int) -> None:
        raise RuntimeError(f"failing on purpose {n}")

    @experiment_callback
    async def stop(self) -> None:
        await asyncio.sleep(0.2)
        with open("module_stop.txt", "w") as f:
            f.write("finished")

    @experiment_callback
    def libraries(self) -> None:
        import sys
        loaded = sorted(m for m in ("click", "rich", "lark", "matplotlib") if m in sys.modules)
        with open("libraries.json", "w") as f:
            json.dump(loaded, f)

    @experiment_callback
    def hang(self) -> None:
        with open("hanging.txt", "w") as f:
            f.write("yes")


class Quiet(ExperimentModule):
    """Leaves every lifecycle hook at the base class's default."""

    @experiment_callback
    def hush(self) -> None:
        pass
'''


def compile_experiment(
    tmp_path: Path, scenario: str, instances: int, classes: tuple[str, ...] = ("Probe",)
) -> Path:
    name = f"peer_mod_{os.getpid()}_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    path = tmp_path / "exp.scenario"
    modules = "".join(f"&module {name}.{cls}\n" for cls in classes)
    path.write_text(modules + textwrap.dedent(scenario))
    analysis = analyze(str(path), CheckOptions(instances=instances, find_conf=False, environment={}))
    errors = [d for d in analysis.diagnostics if d.severity.name == "ERROR"]
    assert not errors, errors
    plan = tmp_path / "exp.plan"
    write_plan_file(compile_plan(analysis.program, instances), plan)
    return plan


def gscen() -> list[str]:
    found = shutil.which("gscen")
    return [found] if found else [sys.executable, "-m", "scenario_lang.cli"]


async def start_peer(
    plan: Path | None,
    port: int,
    token: str | None,
    out: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> asyncio.subprocess.Process:
    environment = dict(os.environ)
    environment.update({"SYNC_PORT": str(port), "OUTPUT_DIR": str(out), "SYNC_HOST": "127.0.0.1"})
    if plan is not None:
        environment["GSCEN_PLAN_FILE"] = str(plan)
    if token is not None:
        environment["GSCEN_SYNC_TOKEN"] = token
    environment.update(env or {})
    return await asyncio.create_subprocess_exec(
        *(command or [*gscen(), "peer"]),
        *extra,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    async with asyncio.timeout(DEADLINE):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


async def run_peers(
    tmp_path: Path, plan: Path, n: int, *extra: str, env: dict[str, str] | None = None
) -> tuple[list[tuple[int, str]], Path]:
    token = new_token()
    out = tmp_path / "out"
    config = SyncServerConfig(instances=n, token=token, start_delay=0.5)
    async with SyncServer(config) as server:
        procs = [await start_peer(plan, server.port, token, out, *extra, env=env) for _ in range(n)]
        results = await asyncio.gather(*(finish(p) for p in procs))
    return list(results), out


async def hanging(out: Path) -> None:
    """Wait until peer 1 runs its `hang` callback (it writes hanging.txt)."""
    async with asyncio.timeout(DEADLINE):
        while not (out / "1" / "hanging.txt").exists():
            await asyncio.sleep(0.02)


def result_of(out: Path, peer: int) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / str(peer) / "result.json").read_text())
    return data


def rows_of(out: Path, peer: int) -> list[dict[str, str]]:
    with (out / str(peer) / "events.csv").open(newline="") as f:
        return list(csv.DictReader(f))


async def test_three_peers_get_ids_share_vars_start_together_and_fire_on_time(tmp_path: Path) -> None:
    plan = compile_experiment(
        tmp_path,
        """\
        @! annotate ready
        @0:0.3 greet 2 {1}
        @0:0.5 annotate middle
        @0:1 echo hello world
        @0:1.2 stop
        """,
        instances=3,
    )
    results, out = await run_peers(tmp_path, plan, 3)
    for code, log in results:
        assert code == 0, log
        assert re.search(r" peer [123] INFO ", log), log
    assert sorted(p.name for p in out.iterdir()) == ["1", "2", "3"]
    all_vars = {(out / str(i) / "all_vars.txt").read_text() for i in (1, 2, 3)}
    assert len(all_vars) == 1
    clients = json.loads(all_vars.pop())["clients"]  # compact form: what each peer set
    assert {k: v["probe"] for k, v in clients.items()} == {"1": "peer-1", "2": "peer-2", "3": "peer-3"}
    for i in (1, 2, 3):
        folder = out / str(i)
        my_id, cwd = (folder / "id_hook.txt").read_text().split(" ", 1)
        assert my_id == str(i) and Path(cwd) == folder
        assert json.loads((folder / "seen_vars.json").read_text())["3"] == "peer-3"
        assert json.loads((folder / "gumby_helpers.json").read_text()) == [[1, 2, 3], ["127.0.0.1", 12003], 3]
        assert (folder / "on_stop.txt").read_text() == "done"
        assert (folder / "module_stop.txt").read_text() == "finished"
        result = result_of(out, i)
        assert result["exit_reason"] == "stop" and result["exit_code"] == 0
        assert result["events_fired"] == result["events_planned"] == (5 if i == 1 else 4)
        lines = (folder / "annotations.csv").read_text().splitlines()
        assert [line.split(",", 1)[1] for line in lines] == ["ready", "middle"]
        assert all(re.fullmatch(r"\d+\.\d{6},\w+", line) for line in lines)
        rows = rows_of(out, i)
        for row in rows:
            if row["planned"]:
                assert 0 <= float(row["lateness"]) < 0.1, row
        # `@!` events prepare the peer before the synchronized start
        targets = [row["target"] for row in rows]
        first_immediate = next(k for k, row in enumerate(rows) if not row["planned"] and row["source"])
        assert all("on_experiment_start" not in t for t in targets[:first_immediate]), targets
    starts = [float((out / str(i) / "started.txt").read_text()) for i in (1, 2, 3)]
    assert max(starts) - min(starts) < 0.03  # go within a few ms (slack for a loaded CI machine)
    assert (out / "2" / "messages.txt").read_text() == "1 hello from 1\n"
    assert not (out / "3" / "messages.txt").exists()


async def test_hooks_left_at_the_base_defaults_are_neither_called_nor_recorded(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.2 hush\n@0:0.4 stop\n", instances=1, classes=("Probe", "Quiet"))
    results, out = await run_peers(tmp_path, plan, 1)
    assert results[0][0] == 0, results[0][1]
    hooks = [row["target"] for row in rows_of(out, 1) if not row["source"]]
    assert "Probe.on_experiment_start" in hooks and "Probe.on_stop" in hooks, hooks
    assert not [target for target in hooks if target.startswith("Quiet.")], hooks
    # the start instant is taken as the peer reaches it, before any hook runs
    started_at = result_of(out, 1)["started_at"]
    assert isinstance(started_at, float)
    assert started_at <= float((out / "1" / "started.txt").read_text())


async def test_experiment_time_stops_a_peer_whose_scenario_never_stops(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 hang\n@0:600 echo never\n", instances=1)
    results, out = await run_peers(tmp_path, plan, 1, env={"EXPERIMENT_TIME": "0.6"})
    code, log = results[0]
    assert code == 0, log
    result = result_of(out, 1)
    assert result["exit_reason"] == "experiment_time"
    assert result["events_fired"] == 1 and result["events_planned"] == 2
    assert (out / "1" / "on_stop.txt").exists()


async def test_a_failing_callback_fails_the_peer_and_names_its_scenario_line(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 fail 7\n@0:0.2 annotate after\n@0:0.3 stop\n", instances=1)
    results, out = await run_peers(tmp_path, plan, 1)
    code, log = results[0]
    assert code == 1
    assert "exp.scenario:2" in log and "failing on purpose 7" in log
    result = result_of(out, 1)
    assert result["events_failed"] == 1 and result["events_fired"] == 3
    assert result["errors"][0]["source"] == "exp.scenario:2"  # type: ignore[index]
    assert (out / "1" / "annotations.csv").read_text().endswith(",after\n")


async def test_continue_on_callback_error_counts_failures_but_exits_zero(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 fail 1\n@0:0.2 stop\n", instances=1)
    env = {"FAIL_ON_CALLBACK_ERROR": "False", "GSCEN_EVENTS_LOG": "problems"}
    results, out = await run_peers(tmp_path, plan, 1, env=env)
    assert results[0][0] == 0, results[0][1]
    result = result_of(out, 1)
    assert result["calls_failed"] == 1 and result["events_fired"] == 2
    assert [(r["callback"], r["status"]) for r in rows_of(out, 1)] == [("fail", "failed")]


async def test_exit_when_done_ends_the_peer_after_its_last_event(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.2 echo last\n", instances=1)
    results, out = await run_peers(tmp_path, plan, 1, "--exit-when-done")
    assert results[0][0] == 0, results[0][1]
    assert result_of(out, 1)["exit_reason"] == "done"


async def test_sigterm_shuts_the_peer_down_cleanly(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 hang\n@0:600 echo never\n", instances=1)
    token = new_token()
    out = tmp_path / "out"
    async with SyncServer(SyncServerConfig(instances=1, token=token, start_delay=0.1)) as server:
        proc = await start_peer(plan, server.port, token, out)
        await server.wait_go()
        await hanging(out)
        proc.send_signal(signal.SIGTERM)
        code, log = await finish(proc)
    assert code == 128 + signal.SIGTERM, log
    result = result_of(out, 1)
    assert result["exit_reason"] == "signal" and result["signal"] == "SIGTERM"
    assert (out / "1" / "on_stop.txt").read_text() == "done"


async def test_a_peer_stops_when_the_sync_server_closes_after_go(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 hang\n@0:600 echo never\n", instances=1)
    token = new_token()
    out = tmp_path / "out"
    async with SyncServer(SyncServerConfig(instances=1, token=token, start_delay=0.1)) as server:
        proc = await start_peer(plan, server.port, token, out)
        await server.wait_go()
        await hanging(out)
    code, log = await finish(proc)
    assert code == 0, log
    assert result_of(out, 1)["exit_reason"] == "sync_closed"
    assert (out / "1" / "on_stop.txt").read_text() == "done"


async def test_a_module_that_cannot_be_imported_is_one_clear_error_before_connecting(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:1 stop\n", instances=1)
    module = next(tmp_path.glob("peer_mod_*.py"))
    module.write_text(module.read_text() + "\nimport no_such_module_anywhere\n")
    proc = await start_peer(plan, 9, None, tmp_path / "out", "--connect-timeout", "1")
    code, log = await finish(proc)
    assert code == 1
    assert "&module" in log and "no_such_module_anywhere" in log
    assert "Traceback" not in log
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("missing", ["plan", "server"])
async def test_missing_inputs_give_an_error_line_not_a_traceback(tmp_path: Path, missing: str) -> None:
    plan = compile_experiment(tmp_path, "@0:1 stop\n", instances=1)
    if missing == "plan":
        plan = tmp_path / "nothing.plan"
    proc = await start_peer(plan, 9, None, tmp_path / "out", "--connect-timeout", "0.3")
    code, log = await finish(proc)
    assert code == 1, log
    assert "Traceback" not in log
    assert ("nothing.plan" in log) if missing == "plan" else ("cannot connect" in log)


async def test_without_a_plan_the_peer_compiles_scenario_file_as_launch_scenario_did(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 annotate compiled\n@0:0.2 stop\n", instances=2)
    plan.unlink()
    token = new_token()
    out = tmp_path / "out"
    env = {"SCENARIO_FILE": "exp.scenario", "EXPERIMENT_DIR": str(tmp_path), "INSTANCES_TO_RUN": "2"}
    async with SyncServer(SyncServerConfig(instances=2, token=token, start_delay=0.2)) as server:
        procs = [await start_peer(None, server.port, token, out, env=env) for _ in range(2)]
        results = await asyncio.gather(*(finish(p) for p in procs))
    for code, log in results:
        assert code == 0, log
    for i in (1, 2):
        assert (out / str(i) / "annotations.csv").read_text().endswith(",compiled\n")


async def test_a_failing_id_hook_ends_that_peer_and_the_sync_fails_fast_for_the_others(
    tmp_path: Path,
) -> None:
    plan = compile_experiment(tmp_path, "@0:1 stop\n", instances=2)
    results, out = await run_peers(tmp_path, plan, 2, env={"PROBE_FAIL_ID": "2"})
    (code_a, log_a), (code_b, log_b) = results
    assert code_a == code_b == 1, (log_a, log_b)
    logs = log_a + log_b
    assert "Probe.on_id_received failed: RuntimeError: hook failed on purpose" in logs
    assert "sync aborted" in logs
    assert result_of(out, 2)["exit_reason"] == "error"


def _add_callback_names(plan: Path, names: list[str]) -> None:
    """Rewrite the plan header with a `callbacks` list (the field a plan writer may record)."""
    data = plan.read_bytes()
    magic = b"GSCENPLAN\n"
    end = data.index(b"\n", len(magic))
    rest = data[end + 1 + (-(end + 1) % 8) :]
    header = json.loads(data[len(magic) : end])
    header["callbacks"] = names
    head = magic + json.dumps(header).encode() + b"\n"
    plan.write_bytes(head + b" " * (-len(head) % 8) + rest)


async def test_callback_names_no_module_answers_are_refused_before_connecting(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 greet 1\n@0:1 stop\n", instances=1)
    _add_callback_names(plan, ["greet", "stop", "vanished"])
    proc = await start_peer(plan, 9, None, tmp_path / "out", "--connect-timeout", "1")
    code, log = await finish(proc)
    assert code == 1 and "`vanished`" in log and "Traceback" not in log
    _add_callback_names(plan, ["greet", "stop"])
    results, out = await run_peers(tmp_path, plan, 1)
    assert results[0][0] == 0, results[0][1]
    assert result_of(out, 1)["exit_reason"] == "stop"


async def test_logger_conf_in_the_experiment_folder_configures_logging_as_in_gumby(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:0.1 echo configured\n", instances=1)
    (tmp_path / "logger.conf").write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=f\n"
        "[logger_root]\nlevel=INFO\nhandlers=h\n"
        "[handler_h]\nclass=StreamHandler\nlevel=NOTSET\nformatter=f\nargs=(sys.stdout,)\n"
        "[formatter_f]\nformat=CUSTOM %(message)s\n"
    )
    env = {"EXPERIMENT_DIR": str(tmp_path)}
    results, _ = await run_peers(tmp_path, plan, 1, "--exit-when-done", env=env)
    code, log = results[0]
    assert code == 0, log
    assert "CUSTOM peer 1: echo configured" in log


SKEW = 0.9


async def _relay_as_gumby_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Server -> peer, line by line, as if the server had measured a clock offset of -SKEW for the
    peer (as Gumby's server does when it reads the peer's `time:` line late): the all-vars line carries
    it, and go is the start instant minus it."""
    while line := await reader.readline():
        text = line.strip()
        if text.startswith(b"{"):
            document = json.loads(text)
            for entry in document["clients"].values():
                entry["time_offset"] = -SKEW
            line = json.dumps(document, separators=(",", ":")).encode() + b"\r\n"
        elif text.startswith(b"go:"):
            line = b"go:%f\r\n" % (float(text[3:]) - SKEW)
        writer.write(line)
        await writer.drain()
    writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_a_peer_on_the_servers_host_ignores_a_clock_offset_the_server_measured(
    tmp_path: Path,
) -> None:
    # Through a relay that makes the real server look like Gumby's reading the peer's `time:` line
    # late: a peer whose sync host is a loopback address shares the server's clock, so it takes the
    # offset back out of go and starts at the server's start instant, not SKEW seconds early.
    plan = compile_experiment(tmp_path, "@0:0.2 stop\n", instances=1)
    token = new_token()
    out = tmp_path / "out"
    async with SyncServer(SyncServerConfig(instances=1, token=token, start_delay=0.3)) as server:

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
            async with asyncio.TaskGroup() as group:
                group.create_task(_copy(reader, up_writer))
                group.create_task(_relay_as_gumby_server(up_reader, writer))

        listener = await asyncio.start_server(relay, "127.0.0.1", 0)
        relay_port = listener.sockets[0].getsockname()[1]
        async with listener:
            proc = await start_peer(plan, relay_port, token, out)
            start = await server.wait_go()
            code, log = await finish(proc)
    assert code == 0, log
    offset = json.loads((out / "1" / "all_vars.txt").read_text())["clients"]["1"]["time_offset"]
    assert offset == -SKEW
    assert abs(float(result_of(out, 1)["started_at"]) - start) < 0.1  # type: ignore[arg-type]


async def test_an_output_folder_that_cannot_be_written_is_an_error_line(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:1 stop\n", instances=1)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    token = new_token()
    async with SyncServer(SyncServerConfig(instances=1, token=token)) as server:
        proc = await start_peer(plan, server.port, token, blocker / "out")
        code, log = await finish(proc)
    assert code == 1, log
    assert "cannot write the peer folder" in log and "Traceback" not in log


async def test_the_peer_gscen_run_starts_loads_no_command_line_library(tmp_path: Path) -> None:
    # The very command the run's guard starts for each peer (through /bin/sh -c), with its environment.
    plan = compile_experiment(tmp_path, "@0:0.1 libraries\n@0:0.2 stop\n", instances=1)
    token = new_token()
    out = tmp_path / "out"
    async with SyncServer(SyncServerConfig(instances=1, token=token, start_delay=0.2)) as server:
        command = ["/bin/sh", "-c", peer_shell_command(sys.executable)]
        code, log = await finish(await start_peer(plan, server.port, token, out, command=command))
    assert code == 0, log
    assert json.loads((out / "1" / "libraries.json").read_text()) == []


async def test_gscen_peer_reads_a_bad_variable_as_a_usage_error(tmp_path: Path) -> None:
    plan = compile_experiment(tmp_path, "@0:1 stop\n", instances=1)
    for command in (None, [sys.executable, "-m", "scenario_lang.runtime.peer_entry"]):
        proc = await start_peer(plan, 9, None, tmp_path / "out", env={"SYNC_PORT": "ninety"}, command=command)
        code, log = await finish(proc)
        assert code == 2, log
        assert "SYNC_PORT" in log and "Traceback" not in log


def test_the_peer_imports_neither_the_parser_nor_rich_nor_matplotlib() -> None:
    import subprocess

    code = (
        "import sys, scenario_lang.runtime.peer\n"
        "print(sorted(m for m in ('lark', 'rich', 'matplotlib', 'scenario_lang.parse') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
