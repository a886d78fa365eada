"""`gscen sync-server` as a real subprocess: announces `listening on`, serves peers, fails in one line."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

from scenario_lang.runtime.sync_client import SyncClient, SyncClientConfig

LIMIT = 20.0
GSCEN = [sys.executable, "-m", "scenario_lang.cli"]


async def start_server(*args: str) -> tuple[asyncio.subprocess.Process, str, int]:
    process = await asyncio.create_subprocess_exec(
        *GSCEN,
        "sync-server",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first = (await process.stdout.readline()).decode()
    match = re.fullmatch(r"listening on (\S+):(\d+)\n", first)
    assert match, first
    return process, match.group(1), int(match.group(2))


async def gumby_peer(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(b"time:%f\r\n" % time.time())
    assert (await reader.readline()).startswith(b"id:")
    writer.write(b"ready\r\n")
    document = await reader.readline()
    writer.write(b"vars_received\r\n")
    assert (await reader.readline()).startswith(b"go:")
    writer.close()
    return document.strip()


async def test_sync_server_command_prints_listening_and_exits_0_after_peers_leave() -> None:
    async with asyncio.timeout(LIMIT):
        process, host, port = await start_server("--instances", "3", "--start-delay", "0.05", "--no-token")
        assert host == "127.0.0.1"
        documents = await asyncio.gather(*(gumby_peer(port) for _ in range(3)))
        assert len(set(documents)) == 1
        assert set(json.loads(documents[0])["clients"]) == {"1", "2", "3"}
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()


async def test_sync_server_command_prints_a_generated_token_for_gscen_peers() -> None:
    async with asyncio.timeout(LIMIT):
        process, _, port = await start_server("--instances", "1", "--start-delay", "0.05")
        assert process.stdout is not None
        token_line = (await process.stdout.readline()).decode()
        token = token_line.removeprefix("token: ").strip()
        assert token_line.startswith("token: ") and len(token) >= 32
        async with SyncClient(SyncClientConfig("127.0.0.1", port, token=token)) as client:
            assert await client.connect() == 1
            await client.ready()
            await client.wait_go()
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()


async def test_sync_server_command_all_vars_option_forces_one_form_on_gumby_clients() -> None:
    async with asyncio.timeout(LIMIT):
        documents = {}
        for form in ("auto", "compact"):
            process, _, port = await start_server(
                "--instances", "2", "--start-delay", "0.05", "--no-token", "--all-vars", form
            )
            documents[form] = json.loads((await asyncio.gather(gumby_peer(port), gumby_peer(port)))[0])
            _, stderr = await process.communicate()
            assert process.returncode == 0, stderr.decode()
    assert documents["auto"]["clients"]["2"] == {"time_offset": 0, "port": 12002, "host": "127.0.0.1"}
    assert documents["compact"]["clients"] == {"1": {}, "2": {}}
    assert documents["compact"]["gscen"] == {"form": 1, "port_base": 12000, "host": "127.0.0.1"}


async def test_sync_server_command_failure_is_one_line_without_traceback() -> None:
    async with asyncio.timeout(LIMIT):
        process, _, port = await start_server("--instances", "2", "--no-token", "--ready-timeout", "5")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"time:%f\r\n" % time.time())
        _, other_writer = await asyncio.open_connection("127.0.0.1", port)
        other_writer.write(b"time:%f\r\n" % time.time())
        await reader.readline()
        writer.write(b"not a protocol line\r\n")
        await writer.drain()
        _, stderr = await process.communicate()
        text = stderr.decode()
        assert process.returncode == 1
        assert "Traceback" not in text
        lines = text.strip().splitlines()
        assert len(lines) == 1 and "not a protocol line" in lines[0] and "peer" in lines[0], text
        writer.close()
        other_writer.close()
