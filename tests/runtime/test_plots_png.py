"""Plots: PNG files for few and many peers, annotations read from both CSV shapes, lazy matplotlib."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from pathlib import Path

from scenario_lang.runtime.plots import (
    Annotation,
    FiredEvent,
    PeerEvents,
    plot_event_timeline,
    plot_resources,
    read_annotations,
)
from scenario_lang.runtime.resource_log import parse_resource_log

HEADER = '{"sc_clk_tck": 100.0, "pagesize": 4096}\n'


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def resource_log_text(peers: int, seconds: int) -> list[str]:
    lines = [HEADER]
    for t in range(seconds):
        for p in range(peers):
            pid = 1000 + p
            rest = (
                ["S", "1", str(pid), str(pid)]
                + ["0"] * 7
                + [str(t * (10 + p)), "3", "0", "0", "20", "0", "2"]
            )
            rest += ["0", "77", "9000000", str(2000 + 10 * t + p)] + ["0"] * 28
            lines.append(f"{100 + t:.1f} {pid} (peer {p}) {' '.join(rest)} 1 2 3 4 5 6 7\n")
    return lines


def test_resource_plots_for_a_few_peers(tmp_path: Path) -> None:
    log = parse_resource_log(resource_log_text(peers=3, seconds=20))
    annotations = [Annotation(5.0, "bootstrap", "1"), Annotation(12.5, "load starts")]
    cpu, memory = plot_resources(log, tmp_path, labels={1000: "peer 1"}, annotations=annotations, start=100.0)
    assert (cpu.name, memory.name) == ("cpu.png", "memory.png")
    assert png_size(cpu) == (1200, 550)
    assert png_size(memory) == (1200, 550)


def test_resource_plots_for_many_peers_stay_one_readable_figure(tmp_path: Path) -> None:
    log = parse_resource_log(resource_log_text(peers=120, seconds=30))
    annotations = [Annotation(10.0 + random.random() / 10, "joined", str(p)) for p in range(120)]
    cpu, memory = plot_resources(log, tmp_path, annotations=annotations)
    assert png_size(cpu) == (1200, 550)
    assert png_size(memory) == (1200, 550)


def test_event_timeline_for_few_and_many_peers(tmp_path: Path) -> None:
    rng = random.Random(7)

    def peers(count: int, events: int) -> list[PeerEvents]:
        return [
            PeerEvents(
                peer,
                [
                    FiredEvent(
                        t, None if i % 97 == 0 else t + rng.random() / 500, f"cb{i % 12}", failed=i % 50 == 0
                    )
                    for i, t in enumerate(sorted(rng.uniform(0, 60) for _ in range(events)))
                ],
            )
            for peer in range(1, count + 1)
        ]

    few = plot_event_timeline(peers(8, 30), tmp_path / "few.png", annotations=[Annotation(30, "half")])
    many = plot_event_timeline(peers(150, 200), tmp_path / "many.png", annotations=[Annotation(30, "half")])
    width, height = png_size(few)
    assert width == 1200 and height < 800
    width, height = png_size(many)
    assert width == 1200 and height <= 1700


def test_empty_inputs_still_give_a_png(tmp_path: Path) -> None:
    log = parse_resource_log([HEADER])
    cpu, memory = plot_resources(log, tmp_path)
    timeline = plot_event_timeline([PeerEvents(1, [])], tmp_path / "events.png")
    for path in (cpu, memory, timeline):
        png_size(path)


def test_read_annotations_from_a_peer_file(tmp_path: Path) -> None:
    path = tmp_path / "annotations.csv"
    path.write_text('1.500000,start, with a comma\n1700000000.1 3 stats {"a": 1}\n\n12.000000,end\n')
    assert read_annotations(path, peer="3") == [
        Annotation(1.5, "start, with a comma", "3"),
        Annotation(12.0, "end", "3"),
    ]


def test_read_annotations_from_a_merged_file_with_a_peer_column(tmp_path: Path) -> None:
    path = tmp_path / "annotations.csv"
    path.write_text('peer,time,message\n1,0.5,hello\n2,0.75,"quoted, comma"\n3,1.0,bare, comma\n')
    assert read_annotations(path) == [
        Annotation(0.5, "hello", "1"),
        Annotation(0.75, "quoted, comma", "2"),
        Annotation(1.0, "bare, comma", "3"),
    ]


def test_plots_load_matplotlib_lazily_and_never_pyplot(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import scenario_lang.runtime.plots as plots\n"
        "assert 'matplotlib' not in sys.modules\n"
        "events = [plots.PeerEvents(1, [plots.FiredEvent(1.0, 1.001, 'x')])]\n"
        f"plots.plot_event_timeline(events, Path({str(tmp_path)!r}) / 'e.png')\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_planned_only_timeline_has_no_lateness_panel(tmp_path: Path) -> None:
    plan = [
        PeerEvents(p, [FiredEvent(float(t), None, "start" if t == 0 else "tick") for t in range(10)])
        for p in (1, 2)
    ]
    planned = plot_event_timeline(plan, tmp_path / "plan.png", planned_only=True)
    run = plot_event_timeline(plan, tmp_path / "run.png")
    assert png_size(planned)[1] < png_size(run)[1]
