"""Every IPv8 callback of Gumby's modules, driven in one process: two peers, each a real
`BaseIPv8Module` + the example's `PingPongModule` on a real `PeerState`, over UDP on 127.0.0.1.
The all-vars document is built from the vars the modules published, as the sync server would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from scenario_lang.runtime.ipv8.provider import BaseIPv8Module, IPv8SessionError
from scenario_lang.runtime.peer import PeerState


class Peer:
    def __init__(self, peer_id: int, root: Path, ping_pong: Any) -> None:
        self.state = PeerState(output_root=root, my_id=peer_id)
        self.state.output_dir.mkdir(parents=True)
        self.provider = BaseIPv8Module(self.state)
        self.module = ping_pong.PingPongModule(self.state)

    def ids(self) -> None:
        self.provider.on_id_received()
        self.module.on_id_received()


async def two_peers(tmp_path: Path, ping_pong: Any) -> list[Peer]:
    peers = [Peer(i, tmp_path, ping_pong) for i in (1, 2)]
    for peer in peers:
        peer.ids()
    document = {str(p.state.my_id): {"host": "127.0.0.1", **p.state.vars} for p in peers}
    for peer in peers:
        peer.state.all_vars = json.loads(json.dumps(document))
        peer.provider.on_all_vars_received()
    return peers


async def wait_for(condition: Any, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


async def test_every_ipv8_callback_does_what_gumbys_did(tmp_path: Path, ping_pong: Any) -> None:
    one, two = await two_peers(tmp_path, ping_pong)
    # Published: the bound port, the key (kept in the peer's folder), the nonce; one nonce per run.
    assert one.state.vars["port"] != two.state.vars["port"]
    assert (tmp_path / "1" / "tc_keypair_1").is_file() and (tmp_path / "1" / "tc_keypair_1.pub").is_file()
    assert one.provider.session_id == two.provider.session_id == one.state.vars["ipv8_nonce"]
    assert one.provider.gumby_config.ipv8.max_peers == 30  # pyipv8's default, raised for larger runs
    with pytest.raises(IPv8SessionError, match="call start_session first"):
        one.module.introduce_one_peer(2)
    for peer in (one, two):
        peer.provider.isolate_ipv8_overlay("PingPongCommunity")
        peer.provider.enable_ipv8_statistics()
    # set_bootstrap: peer 2 bootstraps from peer 1's published address
    two.provider.set_bootstrap(1, int(one.state.vars["port"]))
    available: list[Any] = []
    one.module.on_ipv8_available = available.append  # the hook overlay modules override
    for peer in (one, two):
        await peer.provider.start_session()
    try:
        assert available == [one.provider.ipv8]
        overlay = two.module.overlay
        assert [(b.ip_addresses, b.dns_addresses) for b in overlay.bootstrappers] == [
            ([("127.0.0.1", int(one.state.vars["port"]))], [])
        ]
        assert one.module.overlay.bootstrappers == []  # nothing public, ever
        with pytest.raises(IPv8SessionError, match="started already"):
            await one.provider.start_session()
        with pytest.raises(IPv8SessionError, match="before start_session"):
            one.provider.enable_ipv8_statistics()
        # introduce_one_peer walks to the peer's published address; both end up verified
        one.module.introduce_one_peer(2)
        assert await wait_for(lambda: one.module.overlay.get_peers() and two.module.overlay.get_peers())
        assert (
            one.module.get_peer(2).public_key.key_to_bin()
            == two.module.overlay.my_peer.public_key.key_to_bin()
        )
        # add_walking_strategy appends a strategy for this overlay; an unknown one is only a warning
        before = len(one.provider.ipv8.strategies)
        one.module.add_walking_strategy("RandomWalk", 5)
        one.module.add_walking_strategy("NoSuchWalk", 5)
        assert len(one.provider.ipv8.strategies) == before + 1
        assert one.provider.ipv8.strategies[-1][1] == 5
        # introduce_peers with exclusions: an excluded peer does nothing
        two.module.introduce_peers(excluded_peers="2")
        two.module.introduce_peers(max_peers=0)
        one.module.overlay.ping_everyone()
        assert await wait_for(lambda: one.module.overlay.pongs == 1)
        # statistics: the monitor's file, then write_overlay_statistics' three files
        await one.provider.start_ipv8_statistics_monitor()
        assert await wait_for(lambda: (tmp_path / "1" / "ipv8_statistics.txt").is_file())
        one.provider.write_overlay_statistics()
        assert (tmp_path / "1" / "verified_peers.txt").read_text().split() == ["2"]
        overlays = (tmp_path / "1" / "overlays.txt").read_text().splitlines()
        assert overlays[0] == "name,pub_key,peers" and overlays[1].startswith("PingPongCommunity,")
        up, down = map(int, (tmp_path / "1" / "bandwidth.txt").read_text().split(","))
        assert up > 0 and down > 0
    finally:
        for peer in (one, two):
            await peer.provider.stop_session()
    with pytest.raises(IPv8SessionError, match="stopped already"):
        await one.provider.stop_session()
    line = json.loads((tmp_path / "1" / "ipv8_statistics.txt").read_text().splitlines()[-1])
    (prefix,) = line["stats"]
    assert line["names"] == {prefix: "PingPongCommunity"} and line["stats"][prefix]["1"]["num_up"] == 1


async def test_a_second_ipv8_provider_is_refused(tmp_path: Path) -> None:
    state = PeerState(output_root=tmp_path, my_id=1)
    BaseIPv8Module(state)
    with pytest.raises(IPv8SessionError, match="one IPv8 provider per experiment"):
        BaseIPv8Module(state)


async def test_an_overlay_module_without_a_provider_is_refused(tmp_path: Path, ping_pong: Any) -> None:
    with pytest.raises(IPv8SessionError, match="no IPv8 provider"):
        ping_pong.PingPongModule(PeerState(output_root=tmp_path, my_id=1))
