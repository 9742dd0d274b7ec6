"""Calling a running bot's local API from the command line (bot/web/api_cli.py serves it).

The bot already holds the model and the index, and is the one writer of the index: so
`search`, `draft`, `ingest` and `recrawl` go there when a bot serves this TWIN_HOME with
the same settings (bot/running.py). When none answers, or it would answer with other
settings, the command runs in this process instead: `BotUnavailable` says so before any
work started. Once the bot has taken a command, its errors are the command's errors.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from bot.running import CONFIG_HEADER, RunningBot
from core.errors import TwinError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
# Refusals that mean "not this bot": another home's token, other settings, an older bot.
_NOT_HERE = {
    401: "it did not accept this home's token",
    403: "it does not take commands from this address",
    404: "it has no command-line API",
}
_OTHER_SETTINGS = 409


class BotUnavailable(Exception):
    """The bot cannot take the command; it runs in this process."""


class BotClient:
    def __init__(self, bot: RunningBot, config_fingerprint: str) -> None:
        self.bot = bot
        self.fingerprint = config_fingerprint

    def call(self, route: str, body: dict[str, Any]) -> Any:
        """POST `body` to `route`; the JSON answer."""
        connection, response = self._post(route, body)
        try:
            return json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise TwinError(f"the bot at {self.bot.url} failed to answer ({exc})") from None
        finally:
            connection.close()

    def stream(self, route: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST `body` to `route`; its server-sent events up to `end` (an `error` event is
        raised as the command's error)."""
        connection, response = self._post(route, body)
        try:
            for event in self._events(response):
                if event.get("type") == "end":
                    return
                if event.get("type") == "error":
                    raise TwinError(str(event.get("text", "the bot reported an error")))
                yield event
            raise TwinError(f"the bot at {self.bot.url} stopped answering mid-way")
        finally:
            connection.close()

    def _events(self, response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
        try:
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data: "):
                    yield json.loads(line[len("data: ") :])
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise TwinError(
                f"the bot at {self.bot.url} stopped answering mid-way ({exc})"
            ) from None

    def _post(
        self, route: str, body: dict[str, Any]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        connection = self._connection()
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise BotUnavailable(f"cannot reach the bot at {self.bot.url} ({exc})") from None
        connection.sock.settimeout(None)  # a draft streams for as long as it takes
        headers = {
            "Authorization": f"Bearer {self.bot.token}",
            "Content-Type": "application/json",
            CONFIG_HEADER: self.fingerprint,
        }
        try:
            connection.request("POST", route, body=json.dumps(body), headers=headers)
            response = connection.getresponse()
        except http.client.HTTPException as exc:  # something else listens there
            connection.close()
            raise BotUnavailable(f"{self.bot.url} does not answer as a bot ({exc!r})") from None
        except OSError as exc:  # it took the command and went away: do not do it twice
            connection.close()
            raise TwinError(f"the bot at {self.bot.url} failed to answer ({exc})") from None
        if response.status == 200:
            return connection, response
        reason = _error(response)
        connection.close()
        if response.status == _OTHER_SETTINGS:
            raise BotUnavailable(f"the bot at {self.bot.url} runs with other settings")
        if response.status in _NOT_HERE:
            raise BotUnavailable(f"the bot at {self.bot.url}: {_NOT_HERE[response.status]}")
        raise TwinError(reason)

    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.bot.url)
        host, port = parts.hostname or "127.0.0.1", parts.port
        if parts.scheme != "https":
            return http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
        context = ssl.create_default_context(cafile=self.bot.tls_cert)
        context.check_hostname = False  # a loopback address, not the certificate's name
        return http.client.HTTPSConnection(host, port, timeout=CONNECT_TIMEOUT, context=context)


def _error(response: http.client.HTTPResponse) -> str:
    try:
        return str(json.loads(response.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"the bot answered {response.status} {response.reason}"
