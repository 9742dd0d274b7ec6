"""The command line's client for a running bot, against real loopback servers that are
not quite a bot: whatever cannot be a bot is passed over (the command works alone) before
any work was sent; a bot that took the command and then failed is the command's error."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.cli.remote import BotClient, BotUnavailable
from bot.running import RunningBot
from core.errors import TwinError


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = int(self.path.rsplit("/", 1)[-1]) if self.path[-1].isdigit() else 200
        if self.path.startswith("/cut"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'data: {"type": "result", "n": 1}\n\n')
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the bot died mid-way
            return
        body = json.dumps({"error": f"refused with {status}"} if status != 200 else {"ok": 1})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def client(url: str) -> BotClient:
    return BotClient(RunningBot(url=url, pid=1, token="t"), "fingerprint")


@pytest.mark.parametrize("status", [401, 403, 404, 409])
def test_not_this_bot_means_working_alone(server: str, status: int) -> None:
    with pytest.raises(BotUnavailable):
        client(server).call(f"/api/cli/search/{status}", {})


def test_a_refusal_of_the_command_is_the_commands_error(server: str) -> None:
    with pytest.raises(TwinError, match="refused with 400"):
        client(server).call("/api/cli/search/400", {})
    assert client(server).call("/api/cli/search", {}) == {"ok": 1}


def test_nobody_listening_or_something_else_listening_means_working_alone() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BotUnavailable, match="cannot reach"):
        client(f"http://127.0.0.1:{port}").call("/api/cli/search", {})
    with socket.socket() as listener:  # not HTTP: it answers a line of its own and hangs up
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        threading.Thread(target=answer, daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(BotUnavailable, match="does not answer as a bot"):
            client(url).call("/api/cli/search", {})


def test_a_bot_that_dies_mid_stream_is_an_error_not_a_retry(server: str) -> None:
    events = client(server).stream("/cut", {})
    assert next(events) == {"type": "result", "n": 1}
    with pytest.raises(TwinError, match="stopped answering mid-way"):
        next(events)
