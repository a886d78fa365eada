"""The peer's IPv8 instance, owned by one module: `BaseIPv8Module` (Gumby's name; gscen: `IPv8Module`).

Takes the peer's context; gives the experiment one pyipv8 `IPv8` per peer, isolated and offline:

* `on_id_received` (before the peer sends its vars): the session config (state_dir = the peer's
  folder, key file `tc_keypair_<id>` in it), the key pair (made once from the run's seed and the id,
  kept in the folder), and the UDP socket, bound now so the vars carry the port it really has. The
  port is `ipv8_port` when the module sets one (taken: `PortInUseError`), else the run's base
  (GSCEN_IPV8_PORT_BASE) + id, moving up past taken ports, else any free port. Published vars:
  `port`, `public_key` (base64), `ipv8_nonce` (a random value; the lowest peer id's one is the run's
  nonce, so every peer agrees on it and no seed decides it).
* Callbacks, with Gumby's names: `isolate_ipv8_overlay NAME`, `enable_ipv8_statistics`,
  `set_bootstrap PEER_ID PORT`, `start_session` (async; loads the overlays through the launchers,
  then starts IPv8), `stop_session` (async), `start_ipv8_statistics_monitor`,
  `write_overlay_statistics`. Misuse raises `IPv8SessionError` with what to do instead.
* `create_endpoint(udp)` is the one place the endpoint under the overlays is made (default: the peer's
  network-conditions endpoint, `runtime.netem`, around the UDP endpoint); override it to put another
  endpoint between the overlays and the socket.
* `on_stop` stops whatever is still running (IPv8, the monitor, an unopened socket).

Statistics (`enable_ipv8_statistics`): `ipv8_statistics.txt` gets one JSON line per second while the
monitor runs, and one at `stop_session`: Gumby's `{"time", "stats": {prefix: {msg_id: {...}}}}` plus
`"names": {prefix: overlay class}` (read by `runtime.ipv8_statistics`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
from binascii import hexlify
from pathlib import Path
from typing import Any

from ipv8.bootstrapping.dispersy.bootstrapper import DispersyBootstrapper
from ipv8.configuration import get_default_configuration
from ipv8.keyvault.keys import PrivateKey
from ipv8.messaging.interfaces.endpoint import Endpoint
from ipv8_service import IPv8

from scenario_lang.authoring import PeerContext, experiment_callback

from ..gumby_module import GumbyExperimentModule, loaded_modules
from ..seeds import derive_bytes
from ..udp_ports import PORT_BASE_VARIABLE
from .endpoint import EarlyUDPEndpoint
from .launchers import DHTCommunityLauncher, IPv8DiscoveryCommunityLauncher, IsolatingCommunityLoader
from .session import IPv8Session, SessionConfig, load_or_create_key

STATISTICS_FILE = "ipv8_statistics.txt"
BIND_HOST_VARIABLE = "GSCEN_IPV8_HOST"


class IPv8SessionError(RuntimeError):
    """An IPv8 callback used out of order, or the session could not start."""


def _future() -> asyncio.Future[Any]:
    try:
        return asyncio.get_running_loop().create_future()
    except RuntimeError:  # constructed outside a loop (a unit test): the loop comes later
        return asyncio.Future()


class IPv8Provider(GumbyExperimentModule):
    """A module that owns the peer's IPv8 instance; at most one per experiment (as Gumby)."""

    ipv8: IPv8 | None = None
    ipv8_port: int | None = None

    def __init__(self, experiment: PeerContext) -> None:
        for module in loaded_modules(experiment):
            if isinstance(module, IPv8Provider) and module is not self:
                raise IPv8SessionError(
                    f"{type(module).__name__} already provides IPv8: load one IPv8 provider per experiment"
                )
        super().__init__(experiment)
        self.ipv8_available: asyncio.Future[Any] = _future()
        self.session_id = ""  # the run's nonce once the all-vars document arrived
        self.bootstrappers: list[Any] = []


class BaseIPv8Module(IPv8Provider):
    """Plain IPv8 for the experiment's overlays (see the module docstring)."""

    def __init__(self, experiment: PeerContext) -> None:
        super().__init__(experiment)
        self.custom_ipv8_community_loader = self.create_ipv8_community_loader()
        self.gumby_config: SessionConfig | None = None
        self.gumby_session: IPv8Session | None = None
        self.keypair: PrivateKey | None = None
        self.udp_endpoint: EarlyUDPEndpoint | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._running = False

    def create_ipv8_community_loader(self) -> IsolatingCommunityLoader:
        loader = IsolatingCommunityLoader()
        loader.set_launcher(DHTCommunityLauncher())
        loader.set_launcher(IPv8DiscoveryCommunityLauncher())
        return loader

    # -- before go
    def setup_config(self) -> SessionConfig:
        state_dir = Path(self.experiment.output_dir)
        config = SessionConfig(state_dir=str(state_dir))
        config.trustchain.ec_keypair_filename = str(state_dir / f"tc_keypair_{self.my_id}")
        return config

    def ensure_key(self) -> PrivateKey:
        """The peer's key pair (made once, in the peer's folder) and `vars['public_key']`."""
        if self.keypair is None:
            config = self.require_config()
            seed = getattr(self.experiment, "seed", None)  # a gscen peer's run seed
            secret = derive_bytes(seed, "ipv8-key", int(self.my_id or 0)) if isinstance(seed, int) else None
            self.keypair = load_or_create_key(config.trustchain.ec_keypair_filename, secret)
            self.vars["public_key"] = base64.b64encode(self.keypair.pub().key_to_bin()).decode()
        return self.keypair

    def require_config(self) -> SessionConfig:
        if self.gumby_config is None:
            raise IPv8SessionError("the IPv8 configuration exists once the peer has its id")
        return self.gumby_config

    def create_udp_endpoint(self) -> EarlyUDPEndpoint:
        """The bound UDP endpoint (see the module docstring for the port rule)."""
        host = os.environ.get(BIND_HOST_VARIABLE, "0.0.0.0")
        if self.ipv8_port is not None:
            return EarlyUDPEndpoint(host, int(self.ipv8_port), exact=True)
        base = os.environ.get(PORT_BASE_VARIABLE, "")
        port = int(base) + int(self.my_id or 0) if base.strip() else 0
        return EarlyUDPEndpoint(host, port)

    def create_endpoint(self, udp: EarlyUDPEndpoint) -> Endpoint:
        """The endpoint the overlays send through: the peer's network-conditions endpoint around the
        socket (the built-ins `latency`, `loss`, `partition`, ... act on it), or the socket itself in
        a context without one. Override to add another between them and the socket."""
        condition = getattr(self.experiment, "condition_endpoint", None)
        return condition(udp) if condition is not None else udp

    def on_id_received(self) -> None:
        super().on_id_received()
        self.gumby_config = self.setup_config()
        self.ensure_key()
        self.udp_endpoint = self.create_udp_endpoint()
        self.gumby_config.ipv8.port = self.ipv8_port = self.udp_endpoint.bound_port
        self.vars["port"] = str(self.ipv8_port)
        self.vars["ipv8_nonce"] = secrets.token_hex(16)
        self.logger.info("IPv8 port %d, state in %s", self.ipv8_port, self.gumby_config.state_dir)

    def on_all_vars_received(self) -> None:
        super().on_all_vars_received()
        nonces = [
            (int(peer), entry["ipv8_nonce"]) for peer, entry in self.all_vars.items() if "ipv8_nonce" in entry
        ]
        if nonces:
            self.session_id = str(min(nonces)[1])
            self.custom_ipv8_community_loader.nonce = self.session_id
        config = self.require_config()
        config.ipv8.max_peers = max(config.ipv8.max_peers, len(self.all_vars))

    # -- callbacks
    @experiment_callback
    def isolate_ipv8_overlay(self, name: str) -> None:
        if self.ipv8 is not None:
            raise IPv8SessionError(f"isolate_ipv8_overlay {name}: the session has started; isolate before it")
        self.custom_ipv8_community_loader.isolate(name)

    @experiment_callback
    def enable_ipv8_statistics(self) -> None:
        if self.ipv8 is not None:
            raise IPv8SessionError("enable_ipv8_statistics: call it before start_session")
        self.require_config().ipv8.statistics = True

    @experiment_callback
    def set_bootstrap(self, peer_id: int, port: int) -> None:
        address = self.experiment.get_peer_ip_port_by_id(int(peer_id))  # type: ignore[attr-defined]
        if address is None:
            raise IPv8SessionError(f"set_bootstrap: there is no peer {peer_id}")
        host = address[0]
        self.logger.info("bootstrap server: %s:%d", host, int(port))
        self.bootstrappers.append(DispersyBootstrapper([(host, int(port))], []))

    @experiment_callback
    async def start_session(self) -> None:
        if self.ipv8 is not None:
            raise IPv8SessionError("start_session: the session has started already")
        config = self.require_config()
        udp = self.udp_endpoint
        if udp is None:
            raise IPv8SessionError("start_session: the UDP socket is closed (the session ran already?)")
        ipv8_config = get_default_configuration()
        ipv8_config["overlays"] = []
        ipv8_config["keys"] = []  # the key pair is ours, in the peer's folder
        ipv8 = IPv8(
            ipv8_config, endpoint_override=self.create_endpoint(udp), enable_statistics=config.ipv8.statistics
        )
        self.gumby_session = IPv8Session(config, self.ensure_key())
        try:
            self.custom_ipv8_community_loader.load(ipv8, self.gumby_session)
            if self.bootstrappers:
                for overlay in ipv8.overlays:
                    overlay.bootstrappers = list(self.bootstrappers)
            await ipv8.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await ipv8.stop()
            udp.close()
            self.udp_endpoint = None
            raise IPv8SessionError(f"starting the IPv8 session failed: {type(exc).__name__}: {exc}") from exc
        self.ipv8 = ipv8
        self._running = True
        if config.ipv8.statistics:
            for overlay in ipv8.overlays:
                ipv8.endpoint.enable_community_statistics(overlay.get_prefix(), True)
        self.logger.info(
            "IPv8 started on port %d with %s",
            udp.bound_port,
            ", ".join(type(o).__name__ for o in ipv8.overlays) or "no overlays",
        )
        if not self.ipv8_available.done():
            self.ipv8_available.set_result(ipv8)

    @experiment_callback
    async def stop_session(self) -> None:
        if self.ipv8 is None:
            raise IPv8SessionError("stop_session: the session was never started (start_session first)")
        if not self._running:
            raise IPv8SessionError("stop_session: the session is stopped already")
        await self._stop_ipv8()

    async def _stop_ipv8(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        ipv8 = self.ipv8
        if ipv8 is None or not self._running:
            return
        self._running = False
        if self.gumby_config is not None and self.gumby_config.ipv8.statistics:
            self.write_ipv8_statistics()
        await ipv8.stop()
        self.udp_endpoint = None

    async def on_stop(self) -> None:
        await self._stop_ipv8()
        if self.udp_endpoint is not None:  # bound but never started
            self.udp_endpoint.close()
            self.udp_endpoint = None

    # -- statistics
    def write_ipv8_statistics(self) -> None:
        """Append one line of the per-overlay, per-message statistics to ipv8_statistics.txt."""
        ipv8 = self.ipv8
        if ipv8 is None:
            return
        statistics = getattr(ipv8.endpoint, "statistics", None)
        if statistics is None:
            return
        names = {hexlify(o.get_prefix()).decode(): type(o).__name__ for o in ipv8.overlays}
        stats = {
            hexlify(prefix).decode(): {str(msg_id): stat.to_dict() for msg_id, stat in by_msg.items()}
            for prefix, by_msg in statistics.items()
        }
        # seconds since the experiment's start, as events.csv and annotations.csv count (Gumby did too)
        elapsed = getattr(self.experiment, "elapsed", None)
        when = elapsed() if callable(elapsed) else 0.0
        line = {"time": round(when, 3), "stats": stats, "names": names}
        with open(Path(self.experiment.output_dir) / STATISTICS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    @experiment_callback
    async def start_ipv8_statistics_monitor(self) -> None:
        if self.ipv8 is None:
            raise IPv8SessionError("start_ipv8_statistics_monitor: call start_session first")
        if self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())

    async def _monitor_loop(self) -> None:
        while True:
            self.write_ipv8_statistics()
            await asyncio.sleep(1.0)

    @experiment_callback
    def write_overlay_statistics(self) -> None:
        """overlays.txt (name,pub_key,peers), verified_peers.txt (their peer ids), bandwidth.txt."""
        ipv8 = self.ipv8
        if ipv8 is None:
            raise IPv8SessionError("write_overlay_statistics: call start_session first")
        folder = Path(self.experiment.output_dir)
        with open(folder / "overlays.txt", "w", encoding="utf-8") as f:
            f.write("name,pub_key,peers\n")
            for overlay in ipv8.overlays:
                key = hexlify(overlay.my_peer.public_key.key_to_bin()).decode()
                f.write(f"{type(overlay).__name__},{key},{len(overlay.get_peers())}\n")
        find = self.experiment.get_peer_id  # type: ignore[attr-defined]
        with open(folder / "verified_peers.txt", "w", encoding="utf-8") as f:
            for peer in ipv8.network.verified_peers:
                peer_id = find(str(peer.address[0]), int(peer.address[1]))
                f.write(f"{peer_id if peer_id is not None else peer.address}\n")
        endpoint = ipv8.endpoint
        with open(folder / "bandwidth.txt", "w", encoding="utf-8") as f:
            f.write(f"{getattr(endpoint, 'bytes_up', 0)},{getattr(endpoint, 'bytes_down', 0)}")


IPv8Module = BaseIPv8Module
