"""`gscen check` reads Gumby's module names from the same files the run imports them from."""

from __future__ import annotations

from pathlib import Path

from scenario_lang.project import CheckOptions, analyze


def test_gumbys_ipv8_tutorial_resolves_to_the_runtimes_classes(tutorials: Path) -> None:
    analysis = analyze(str(tutorials / "simple_ipv8.scenario"), CheckOptions(instances=2, environment={}))
    assert analysis.diagnostics == ()
    program = analysis.program
    assert not program.unchecked_callbacks
    base, ping_pong = program.modules
    # The base module is the class the run imports: gscen's provider, reached through the Gumby API.
    assert Path(base.path).parts[-3:] == ("runtime", "ipv8", "provider.py")
    assert base.class_name == "BaseIPv8Module"
    assert {"start_session", "stop_session", "isolate_ipv8_overlay", "enable_ipv8_statistics"} <= {
        c.name for c in base.callbacks
    }
    assert {"introduce_peers", "introduce_one_peer", "add_walking_strategy", "send_ping"} <= {
        c.name for c in ping_pong.callbacks
    }
    assert ping_pong.overlays == ("PingPongCommunity",)


def test_an_unknown_overlay_in_gumbys_tutorial_module_is_sc309(tutorials: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "x.scenario"
    text = (
        (tutorials / "simple_ipv8.scenario")
        .read_text()
        .replace("isolate_ipv8_overlay PingPongCommunity", "isolate_ipv8_overlay PongPingCommunity")
    )
    scenario.write_text(text)
    # The tutorial's module is found from Gumby's checkout root (here: the current folder).
    analysis = analyze(
        str(scenario), CheckOptions(instances=2, environment={}, cwd=str(tutorials.parents[1]))
    )
    codes = [(d.code, d.suggestion) for d in analysis.diagnostics]
    assert codes == [("SC309", "did you mean `PingPongCommunity`?")]


def test_gscens_own_names_are_the_same_classes(tmp_path: Path) -> None:
    scenario = tmp_path / "own.scenario"
    scenario.write_text(
        "&module scenario_lang.runtime.ipv8.provider.IPv8Module\n@0:0 start_session\n@0:1 stop_session\n"
    )
    analysis = analyze(str(scenario), CheckOptions(instances=2, environment={}))
    assert analysis.diagnostics == ()
    (module,) = analysis.program.modules
    # `IPv8Module = BaseIPv8Module`: the checker follows the alias to the class the run imports
    assert module.class_name == "BaseIPv8Module" and Path(module.path).name == "provider.py"
