"""The names pyipv8 2.x kept in `ipv8.types`, for modules that import them (pyipv8 3.x has no such
module; gscen serves this one only when the installed pyipv8 lacks it). Each name is imported from
where pyipv8 3.x keeps it, when first used."""

from __future__ import annotations

import importlib
from typing import Any

Address = tuple[str, int]

_WHERE = {
    "Community": "ipv8.community",
    "CommunitySettings": "ipv8.community",
    "Overlay": "ipv8.overlay",
    "Peer": "ipv8.peer",
    "Network": "ipv8.peerdiscovery.network",
    "Endpoint": "ipv8.messaging.interfaces.endpoint",
    "Payload": "ipv8.messaging.payload",
    "Serializable": "ipv8.messaging.serialization",
    "Key": "ipv8.keyvault.keys",
    "PrivateKey": "ipv8.keyvault.keys",
    "PublicKey": "ipv8.keyvault.keys",
    "DiscoveryStrategy": "ipv8.peerdiscovery.discovery",
    "RequestCache": "ipv8.requestcache",
    "ConfigBuilder": "ipv8.configuration",
    "IPv8": "ipv8_service",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ipv8.types' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
