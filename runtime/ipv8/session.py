"""The configuration and the session object of a peer's IPv8 instance (Gumby's GumbyConfig / session).

`SessionConfig` holds what Gumby's `GumbyConfig` held (the same attribute paths, so launchers and
modules written for Gumby read `session.config.ipv8.bootstrap_override`, `config.state_dir`,
`config.trustchain.ec_keypair_filename`, the `enabled` flags), plus `ipv8.max_peers` (the peers an
overlay keeps; pyipv8's default is 30). `IPv8Session` is what launchers are handed: the config and
the peer's key pair (`trustchain_keypair`); launchers may set attributes on it (`@set_in_session`).

Keys: `load_or_create_key(path)` reads the private key at `path` or creates one (curve25519) and
writes it there, with the public key in `<path>.pub`: every peer's keys stay in its own folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey

from scenario_lang.files import write_atomically


@dataclass
class DiscoveryConfig:
    enabled: bool = False


@dataclass
class IPv8Config:
    port: int = 0
    statistics: bool = False
    bootstrap_override: str | None = None
    max_peers: int = 30
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)


@dataclass
class TrustchainConfig:
    ec_keypair_filename: str = "ec_keypair"
    enabled: bool = False
    memory_db: bool = False


@dataclass
class FlagConfig:
    enabled: bool = False
    memory_db: bool = False


@dataclass
class SessionConfig:
    """Gumby's GumbyConfig, as plain data (see the module docstring)."""

    state_dir: str = ""
    ipv8: IPv8Config = field(default_factory=IPv8Config)
    trustchain: TrustchainConfig = field(default_factory=TrustchainConfig)
    dht: FlagConfig = field(default_factory=FlagConfig)
    market: FlagConfig = field(default_factory=FlagConfig)
    basalt: FlagConfig = field(default_factory=FlagConfig)


class IPv8Session:
    """What launchers get: `config` and the key pair `trustchain_keypair`; they may add attributes."""

    def __init__(self, config: SessionConfig, keypair: PrivateKey) -> None:
        self.config = config
        self.trustchain_keypair = keypair

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the IPv8 session has no `{name}` (launchers set such attributes)")


def load_or_create_key(path: str | os.PathLike[str], secret: bytes | None = None) -> PrivateKey:
    """The private key stored at `path`, created there (and `<path>.pub`) when missing: from the 64
    bytes of `secret` when given (a seeded run: the same seed gives the same keys), else at random."""
    file = Path(path)
    if file.is_file():
        key = default_eccrypto.key_from_private_bin(file.read_bytes())
        if isinstance(key, PrivateKey):
            return key
        raise ValueError(f"{file} does not hold a private key")
    if secret is not None:
        # pyipv8's curve25519 key format: a prefix, then the encryption and the signing secrets
        key = default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + secret[:64])
    else:
        key = default_eccrypto.generate_key("curve25519")
    assert isinstance(key, PrivateKey)
    file.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(file, key.key_to_bin())
    write_atomically(Path(f"{file}.pub"), key.pub().key_to_bin())
    return key
