"""`gscen sync-server`: the synchronization server alone, as Gumby's experiment_server.py ran.

Kept apart from sync.py so that peers, which import the sync client and errors, do not load click.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import cast

import click

from .sync import SyncServerConfig, serve
from .sync_protocol import AllVarsForm, SyncError, format_address, new_token


@click.command(
    "sync-server",
    help="Run the synchronization server alone (as Gumby's experiment_server.py).\n\n"
    "Prints `listening on HOST:PORT` once it accepts connections, then (unless --no-token) "
    "`token: SECRET`, the token gscen peers must present. Exits 0 when every peer got go and "
    "disconnected, 1 with a one-line error when the sync fails.",
)
@click.option("--instances", "-n", type=click.IntRange(min=1), required=True, help="Number of peers.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: any free port.")
@click.option(
    "--start-delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds from the last vars_received to the start.",
)
@click.option(
    "--token",
    envvar="GSCEN_SYNC_TOKEN",
    help="The secret peers must present (default: a fresh one; env GSCEN_SYNC_TOKEN).",
)
@click.option("--no-token", is_flag=True, help="Admit peers without a token (Gumby clients).")
@click.option(
    "--all-vars",
    "all_vars_form",
    type=click.Choice(["auto", "compact", "gumby"]),
    default="auto",
    show_default=True,
    help="All-vars document: auto = the compact form to peers that ask for it (gscen's) and Gumby's "
    "to the others; compact or gumby = that form to everyone.",
)
@click.option("--connect-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Longest wait for the next peer to join (0: forever).")  # fmt: skip
@click.option("--ready-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Ids sent -> every peer ready (0: forever).")  # fmt: skip
@click.option("--go-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="All-vars sent -> every peer acknowledged (0: forever).")  # fmt: skip
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="WARNING",
    show_default=True,
)
def sync_server_command(
    instances: int,
    host: str,
    port: int,
    start_delay: float,
    token: str | None,
    no_token: bool,
    all_vars_form: str,
    connect_timeout: float,
    ready_timeout: float,
    go_timeout: float,
    log_level: str,
) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s:%(levelname)s:%(name)s: %(message)s")
    ctx = click.get_current_context()
    if no_token and ctx.get_parameter_source("token") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("use either --token or --no-token")
    if no_token:
        token = None
    elif token is None:
        token = new_token()
    try:
        config = SyncServerConfig(
            instances=instances,
            host=host,
            port=port,
            start_delay=start_delay,
            token=token,
            require_token=not no_token,
            all_vars_form=cast(AllVarsForm, all_vars_form),
            connect_timeout=connect_timeout or None,
            ready_timeout=ready_timeout or None,
            go_timeout=go_timeout or None,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    def announce(bound_host: str, bound_port: int) -> None:
        text = f"listening on {format_address(bound_host, bound_port)}\n"
        if token is not None and not no_token:
            text += f"token: {token}\n"
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        asyncio.run(serve(config, announce))
    except SyncError as exc:
        raise click.ClickException(str(exc)) from None
