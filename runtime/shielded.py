"""Closing that survives cancellation: wait for a task to end even when the waiter is cancelled.

Takes a task (a guard's or a job's shutdown); returns its result once it has ended, and re-raises the
waiter's cancellation afterwards, so a stop that was begun is never left half done.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

__all__ = ["wait_to_the_end"]

T = TypeVar("T")


async def wait_to_the_end(task: asyncio.Future[T]) -> T:
    """`task`'s result, waited for through any cancellation of the caller (re-raised afterwards)."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result
