"""Who the command-line API answers: this machine only (it reads local paths for an
ingest), whether the bot listens on loopback or on the machine's own LAN address."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest
from aiohttp import web

from bot.web.api_cli import from_this_machine


def lan_address() -> str | None:
    """This machine's address on its first non-loopback interface, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def answer(request: web.Request) -> web.Response:
    return web.json_response({"this machine": from_this_machine(request)})


@pytest.mark.parametrize("where", ["loopback", "lan"])
def test_the_machine_itself_is_answered_on_either_address(where: str) -> None:
    host = "127.0.0.1" if where == "loopback" else lan_address()
    if host is None:
        pytest.skip("no non-loopback IPv4 address here")

    async def run() -> bytes:
        app = web.Application()
        app.router.add_get("/", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            url = f"http://{host}:{port}/"
            return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        finally:
            await runner.cleanup()

    assert asyncio.run(run()) == b'{"this machine": true}'
