"""`in_thread`: run a body in a thread of its own and hand its result or exception back, for tests of
what the kernel keeps per thread (a CPU slice, a timer slack) that must not touch the test's thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def in_thread(body: Callable[[], Any], timeout: float = 60) -> Any:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = body()
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    if "error" in out:
        raise out["error"]
    return out["value"]
