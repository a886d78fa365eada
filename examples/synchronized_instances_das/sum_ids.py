"""Sum the ids the peers wrote (each peer's id.txt) into OUTPUT_DIR/sum_id.txt."""

import os
from pathlib import Path

from scenario_lang.runtime.statistics import iter_peer_files


def main() -> None:
    output = Path(os.environ["OUTPUT_DIR"])
    total = 0
    for _peer, path, _folder in iter_peer_files(output, "id.txt"):
        total += int(path.read_text(encoding="utf-8"))
    (output / "sum_id.txt").write_text(f"{total}\n", encoding="utf-8")
    print(f"sum of the peer ids: {total}")


if __name__ == "__main__":
    main()
