"""Overlay isolation and the loader's errors, in one process over real UDP on 127.0.0.1.

Two IPv8 instances load the same Community class through gscen's loader: isolated with two different
run nonces they never become peers even when one walks straight to the other; with the same nonce (one
run) they do. An unknown overlay name is an error that lists the names the launchers load.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ipv8.configuration import get_default_configuration
from ipv8.keyvault.crypto import default_eccrypto
from ipv8_service import IPv8
from scenario_lang.runtime.ipv8.endpoint import EarlyUDPEndpoint
from scenario_lang.runtime.ipv8.launchers import (
    IsolatingCommunityLoader,
    UnknownOverlayError,
    community_id_for,
)
from scenario_lang.runtime.ipv8.session import IPv8Session, SessionConfig


async def start(ping_pong: Any, nonce: str) -> tuple[IPv8, Any]:
    config = get_default_configuration()
    config["overlays"], config["keys"] = [], []
    ipv8 = IPv8(config, endpoint_override=EarlyUDPEndpoint("127.0.0.1", 0))
    loader = IsolatingCommunityLoader()
    loader.set_launcher(ping_pong.PingPongLauncher())
    loader.nonce = nonce
    loader.isolate("PingPongCommunity")
    loader.load(ipv8, IPv8Session(SessionConfig(), default_eccrypto.generate_key("curve25519")))
    await ipv8.start()
    return ipv8, ipv8.overlays[0]


async def walk_and_wait(a: Any, b: Any, ipv8s: list[IPv8]) -> tuple[int, int]:
    a.walk_to(b.endpoint.get_address())
    b.walk_to(a.endpoint.get_address())
    for _ in range(30):
        await asyncio.sleep(0.1)
        if a.get_peers() and b.get_peers():
            break
    found = len(a.get_peers()), len(b.get_peers())
    for ipv8 in ipv8s:
        await ipv8.stop()
    return found


async def test_overlays_of_two_runs_never_become_peers(ping_pong: Any) -> None:
    (ipv8_a, a), (ipv8_b, b) = await start(ping_pong, "run-a"), await start(ping_pong, "run-b")
    assert isinstance(a, ping_pong.PingPongCommunity) and type(a).__name__ == "PingPongCommunity"
    assert a.community_id == community_id_for("run-a", "PingPongLauncher") != b.community_id
    assert a.community_id != ping_pong.PingPongCommunity.community_id
    assert await walk_and_wait(a, b, [ipv8_a, ipv8_b]) == (0, 0)


async def test_overlays_of_one_run_find_each_other(ping_pong: Any) -> None:
    (ipv8_a, a), (ipv8_b, b) = await start(ping_pong, "run-a"), await start(ping_pong, "run-a")
    assert a.community_id == b.community_id
    assert await walk_and_wait(a, b, [ipv8_a, ipv8_b]) == (1, 1)


def test_isolating_an_unknown_overlay_names_the_known_ones(ping_pong: Any) -> None:
    loader = IsolatingCommunityLoader()
    loader.set_launcher(ping_pong.PingPongLauncher())
    with pytest.raises(UnknownOverlayError, match=r"`PingPongCommunit`.*they load: `PingPongCommunity`"):
        loader.isolate("PingPongCommunit")
