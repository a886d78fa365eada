"""iter_peer_files: both output layouts, numeric order, non-empty files only; read_all_vars."""

from __future__ import annotations

from pathlib import Path

from scenario_lang.runtime.statistics import (
    PeerFile,
    StatisticsParser,
    iter_peer_dirs,
    iter_peer_files,
    read_all_vars,
)


def write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_local_layout_in_numeric_peer_order(tmp_path: Path) -> None:
    for peer in (10, 2, 1):
        write(tmp_path / str(peer) / "id.txt", str(peer))
    found = list(iter_peer_files(tmp_path, "id.txt"))
    assert [f.peer_id for f in found] == [1, 2, 10]
    peer_id, file_path, peer_dir = found[0]
    assert (peer_id, file_path, peer_dir) == (1, tmp_path / "1" / "id.txt", tmp_path / "1")


def test_das_layout_is_searched_too(tmp_path: Path) -> None:
    write(tmp_path / "localhost" / "node302" / "4" / "stats.csv")
    write(tmp_path / "localhost" / "node301" / "3" / "stats.csv")
    write(tmp_path / "5" / "stats.csv")
    found = list(iter_peer_files(tmp_path, "*.csv"))
    assert [(f.peer_id, f.peer_dir.relative_to(tmp_path).as_posix()) for f in found] == [
        (3, "localhost/node301/3"),
        (4, "localhost/node302/4"),
        (5, "5"),
    ]


def test_empty_files_and_non_peer_folders_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "1" / "a.log", "")
    write(tmp_path / "1" / "b.log")
    write(tmp_path / "1x" / "c.log")  # Gumby took names starting with digits
    write(tmp_path / "autoplot" / "d.log")  # not a head/node/peer tree
    write(tmp_path / "resource_usage.log")
    assert [f.file_path.name for f in iter_peer_files(tmp_path, "*.log")] == ["b.log"]


def test_files_are_found_recursively_in_path_order_case_sensitively(tmp_path: Path) -> None:
    write(tmp_path / "1" / "z" / "s.txt")
    write(tmp_path / "1" / "a" / "s.txt")
    write(tmp_path / "1" / "s.txt")
    write(tmp_path / "1" / "S.TXT")
    found = [f.file_path.relative_to(tmp_path / "1").as_posix() for f in iter_peer_files(tmp_path, "s.txt")]
    assert found == ["a/s.txt", "s.txt", "z/s.txt"]


def test_missing_output_folder_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_peer_dirs(tmp_path / "missing")) == []


def test_gumby_shaped_parser_yields_the_same_tuples(tmp_path: Path) -> None:
    write(tmp_path / "2" / "sum.txt", "2")
    write(tmp_path / "1" / "sum.txt", "1")

    class SumParser(StatisticsParser):
        def run(self) -> None:
            self.total = sum(int(path.read_text()) for _, path, _ in self.yield_files("sum.txt"))

    parser = SumParser(tmp_path)
    parser.run()
    assert parser.total == 3
    assert list(parser.yield_files("sum.txt")) == [
        PeerFile(1, tmp_path / "1" / "sum.txt", tmp_path / "1"),
        PeerFile(2, tmp_path / "2" / "sum.txt", tmp_path / "2"),
    ]


def test_read_all_vars_reads_gumbys_form_and_expands_the_compact_one(tmp_path: Path) -> None:
    gumby = (
        '{"server":{"global_random":3},"clients":{"1":{"time_offset":0,"port":12001,"host":"10.0.0.1"},'
        '"2":{"time_offset":0.8,"key":"v","port":12002,"host":"10.0.0.2"},'
        '"3":{"time_offset":0,"host":"h","port":12003}}}'
    )
    compact = (
        '{"server":{"global_random":3},"clients":{"1":{},"2":{"time_offset":0.8,"key":"v"},'
        '"3":{"host":"h"}},"gscen":{"form":1,"port_base":12000,"host":"10.0.0.1","hosts":{"2":"10.0.0.2"}}}'
    )
    from_gumby = read_all_vars(write(tmp_path / "1" / "all_vars.txt", gumby + "\n"))
    from_compact = read_all_vars(write(tmp_path / "2" / "all_vars.txt", compact + "\n"))
    assert from_compact == from_gumby
    assert [list(e) for e in from_compact.values()] == [list(e) for e in from_gumby.values()]
    assert from_compact["2"] == {"time_offset": 0.8, "key": "v", "port": 12002, "host": "10.0.0.2"}
