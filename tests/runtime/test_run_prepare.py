"""`prepare_run`: everything is checked and decided before anything starts, and nothing is written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from scenario_lang.runtime.gumby_commands import (
    GumbyProgram,
    classify,
    parse_process_guard,
    rewrite_shell_text,
)
from scenario_lang.runtime.run import RunOptions, StepKind, expand_command, prepare_run
from scenario_lang.runtime.run_command import run_command

from scenario_lang.diagnostics import Severity

MODULE = """\
from scenario_lang import ExperimentModule, experiment_callback


class Mod(ExperimentModule):
    @experiment_callback
    def work(self, n: int) -> None:
        pass
"""


def experiment(folder: Path, conf: str, scenario: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mod.py").write_text(MODULE, encoding="utf-8")
    if scenario is not None:
        (folder / "exp.scenario").write_text(scenario, encoding="utf-8")
    path = folder / "exp.conf"
    path.write_text(conf, encoding="utf-8")
    return path


def options(conf: Path, **kw: object) -> RunOptions:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": "/home/someone"}
    return RunOptions(conf=conf, environ=env, python=sys.executable, **kw)  # type: ignore[arg-type]


SCENARIO = "&module mod.Mod\n\n@0:1 work 3\n@0:2 stop\n"
CONF = "experiment_name = e\ninstances_to_run = 3\nscenario_file = exp.scenario\nexperiment_time = 5\n"


def test_conf_errors_refuse_the_run_with_sc6xx_diagnostics(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", "experiment_name = e\ninstances_to_run = abc\n")
    prep = prepare_run(options(conf))
    assert prep.run is None
    codes = [(d.code, d.span.line) for d in prep.diagnostics]
    assert ("SC602", 2) in codes
    assert prep.lines[str(conf)][1] == "instances_to_run = abc"


def test_scenario_errors_refuse_the_run_before_anything_is_written(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, "&module mod.Mod\n\n@0:1 wrok 3\n")
    prep = prepare_run(options(conf))
    assert prep.run is None
    assert any(d.code == "SC301" and d.span.line == 3 for d in prep.diagnostics)
    assert not (tmp_path / "x" / "output").exists()


def test_scenario_is_checked_with_instances_to_run_peers(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, "&module mod.Mod\n\n@0:1 work 3 {5}\n")
    prep = prepare_run(options(conf))
    assert prep.run is None
    assert any(d.code == "SC501" for d in prep.diagnostics)
    # --instances overrides instances_to_run, for the check too.
    assert prepare_run(options(conf, instances=5)).run is not None


def test_scenario_peers_run_under_the_guard_with_a_compiled_plan(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, SCENARIO)
    run = prepare_run(options(conf)).run
    assert run is not None
    assert run.plan is not None and run.plan.instances == 3
    kinds = [(s.key, s.kind) for s in run.steps]
    assert kinds == [
        ("experiment_server_cmd", StepKind.SYNC_SERVER),
        ("local_instance_cmd", StepKind.GUARD),
    ]
    peers = run.peers_step
    assert peers is not None and peers.guard is not None
    assert len(peers.guard.commands) == 3
    assert all(c.endswith(" -m scenario_lang.runtime.peer_entry") for c in peers.guard.commands)
    assert run.sync is not None and run.sync.instances == 3 and run.sync.require_token
    assert run.environment["GSCEN_SYNC_TOKEN"] == run.token
    assert run.environment["GSCEN_PLAN_FILE"] == str(run.output_dir / "plan.gscenplan")
    assert run.output_dir.is_dir() and not any(run.output_dir.iterdir())  # reserved, empty


def test_environment_is_gumbys(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        CONF + "my_key = $INSTANCES_TO_RUN peers\nlocal_setup_cmd = echo $OUTPUT_DIR ~/x $MY_KEY\n",
        SCENARIO,
    )
    run = prepare_run(options(conf)).run
    assert run is not None
    env = run.environment
    folder = (tmp_path / "x").absolute()
    assert env["EXPERIMENT_DIR"] == str(folder)
    assert env["OUTPUT_DIR"] == str(run.output_dir)
    assert env["SCENARIO_FILE"] == str(folder / "exp.scenario")
    assert env["EXPERIMENT_NAME"] == "e"
    assert env["MY_KEY"] == "3 peers"
    assert env["PATH"].split(os.pathsep)[0] == str(folder)
    assert env["SYNC_PORT"].isdigit()
    setup = run.step("local_setup_cmd")
    assert setup is not None
    assert setup.argv == ("echo", str(run.output_dir), "/home/someone/x", "3", "peers")
    assert run.cwd == folder


def test_expand_command_leaves_unknown_names() -> None:
    env = {"A": "1", "HOME": "/h"}
    assert expand_command("x $A ${A} $B ~ ~/y a~b", env) == "x 1 1 $B /h /h/y a~b"


def test_output_folder_is_fresh_and_never_reused(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, SCENARIO)
    first = prepare_run(options(conf)).run
    assert first is not None and first.fresh_output
    assert first.output_dir.parent == (tmp_path / "x" / "output").absolute()
    second = prepare_run(options(conf)).run
    assert second is not None and second.output_dir != first.output_dir
    assert first.output_dir.is_dir() and second.output_dir.is_dir()


def test_a_dry_run_or_a_refused_run_leaves_no_output_folder(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, SCENARIO)
    dry = prepare_run(options(conf, dry_run=True)).run
    assert dry is not None and dry.fresh_output
    assert not (tmp_path / "x" / "output").exists()
    bad = experiment(tmp_path / "y", CONF, "&module mod.Mod\n\n@0:1 wrok 3\n")
    assert prepare_run(options(bad)).run is None
    assert not (tmp_path / "y" / "output").exists()


def test_non_empty_output_is_refused_without_force(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, SCENARIO)
    out = tmp_path / "out"
    out.mkdir()
    assert prepare_run(options(conf, output=out)).run is not None  # empty is fine
    (out / "old-result.txt").write_text("keep me")
    prep = prepare_run(options(conf, output=out))
    assert prep.run is None and prep.refusal is not None and "--force" in prep.refusal
    forced = prepare_run(options(conf, output=out, force=True)).run
    assert forced is not None and forced.output_dir == out.absolute()


def test_gumby_tutorial_command_lines_become_gscen_steps(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        CONF
        + 'local_instance_cmd = "process_guard.py -c launch_scenario.py -n $INSTANCES_TO_RUN '
        + '-t $EXPERIMENT_TIME -m $OUTPUT_DIR -o $OUTPUT_DIR "\n'
        + "post_process_cmd = graph_process_guard_data.sh\n"
        + "experiment_server_cmd = experiment_server.py\n",
        SCENARIO,
    )
    run = prepare_run(options(conf)).run
    assert run is not None
    by_key = {s.key: s for s in run.steps}
    assert by_key["experiment_server_cmd"].kind is StepKind.SYNC_SERVER
    guard_step = by_key["local_instance_cmd"]
    assert guard_step.kind is StepKind.GUARD and guard_step.runs_peers
    assert guard_step.guard is not None
    # -t counts from the start signal (execute.py moves the deadline at go), not from spawning.
    assert guard_step.guard.timeout is None and guard_step.deadline_after_start == 5
    assert guard_step.guard.output_dir == run.output_dir
    assert guard_step.guard.resource_dir == run.output_dir
    assert len(guard_step.guard.commands) == 3
    assert by_key["post_process_cmd"].kind is StepKind.PLOTS


def test_repeated_c_is_sc608_on_the_value(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x",
        "experiment_name = e\ninstances_to_run = 2\nexperiment_server_cmd = ''\n"
        'local_instance_cmd = process_guard.py -c "sleep 1" -c "sleep 1" -n 2\n',
    )
    prep = prepare_run(options(conf))
    assert prep.run is not None
    sc608 = [d for d in prep.diagnostics if d.code == "SC608"]
    assert len(sc608) == 1
    d = sc608[0]
    assert d.severity is Severity.WARNING
    assert (d.span.line, d.span.column) == (4, 22)
    step = prep.run.step("local_instance_cmd")
    assert step is not None and step.guard is not None and len(step.guard.commands) == 2


def test_missing_command_is_refused_before_anything_starts(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF + "post_process_cmd = no_such_program_here.sh\n", SCENARIO)
    prep = prepare_run(options(conf))
    assert prep.run is None
    assert prep.refusal is not None and "no_such_program_here.sh" in prep.refusal


def test_shell_operators_run_through_sh(tmp_path: Path) -> None:
    conf = experiment(
        tmp_path / "x", CONF + "post_process_cmd = echo a && echo b > $OUTPUT_DIR/f\n", SCENARIO
    )
    run = prepare_run(options(conf)).run
    assert run is not None
    step = run.step("post_process_cmd")
    assert step is not None and step.shell == f"echo a && echo b > {run.output_dir}/f"


def test_classify_and_rewrite_gumby_names() -> None:
    assert classify(["gumby/process_guard.py", "-c", "x"]) == (GumbyProgram.PROCESS_GUARD, ("-c", "x"))
    assert classify(["python3", "launch_scenario.py"]) == (GumbyProgram.LAUNCH_SCENARIO, ())
    assert classify(["my_launch_scenario.py"]) == (None, ("my_launch_scenario.py",))
    assert rewrite_shell_text("launch_scenario.py", "/py") == "exec /py -m scenario_lang.runtime.peer_entry"
    rewritten = rewrite_shell_text("cd x && launch_scenario.py --a; graph_process_guard_data.sh", "/py")
    assert rewritten == (
        "cd x && /py -m scenario_lang.cli peer --a; "
        "/py -m scenario_lang.runtime.gumby_shims graph_process_guard_data.sh"
    )


def test_process_guard_flags_are_the_guards(tmp_path: Path) -> None:
    inv = parse_process_guard(
        ["-c", "a", "-n", "3", "-t", "7", "-i", "0.5", "-m", "m", "--network"], tmp_path
    )
    assert inv.commands == ("a", "a", "a") and inv.timeout == 7 and inv.interval == 0.5
    assert inv.monitor_dir == tmp_path / "m" and inv.network and inv.output_dir is None
    with pytest.raises(ValueError, match=r"process_guard\.py"):
        parse_process_guard(["--bogus"], tmp_path)


def test_dry_run_prints_plan_and_commands_and_starts_nothing(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, SCENARIO)
    result = CliRunner().invoke(run_command, [str(conf), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "work" in result.output and "exp.scenario:3" in result.output
    assert "local_instance_cmd: process guard (gscen): 3 x `gscen peer`" in result.output
    assert "sync server" in result.output
    assert not (tmp_path / "x" / "output").exists()


def test_refused_run_exits_1_with_rendered_diagnostics(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, "&module mod.Mod\n\n@0:1 wrok 3\n")
    result = CliRunner().invoke(run_command, [str(conf)])
    assert result.exit_code == 1
    assert "error[SC301]" in result.output
    assert "not started" in result.output


def test_no_token_admits_gumby_clients(tmp_path: Path) -> None:
    conf = experiment(tmp_path / "x", CONF, SCENARIO)
    run = prepare_run(options(conf, no_token=True)).run
    assert run is not None and run.sync is not None
    assert not run.sync.require_token and run.token is None
    assert "GSCEN_SYNC_TOKEN" not in run.environment
    conf2 = experiment(tmp_path / "y", CONF + "sync_require_token = false\n", SCENARIO)
    run2 = prepare_run(options(conf2)).run
    assert run2 is not None and run2.sync is not None and not run2.sync.require_token
