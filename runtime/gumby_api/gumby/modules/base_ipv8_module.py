"""Gumby's `gumby.modules.base_ipv8_module`, answered by gscen (pyipv8 3.x)."""

from scenario_lang.runtime.ipv8.provider import BaseIPv8Module, IPv8Provider
from scenario_lang.runtime.ipv8.session import IPv8Session as GumbyMinimalSession

__all__ = ["BaseIPv8Module", "GumbyMinimalSession", "IPv8Provider"]
