"""A LinkedIn emulator on loopback: the sign-in linkedin-api performs and the Voyager
endpoints the LinkedIn extractor calls, answering with the JSON shapes LinkedIn's web
client gets (an UpdateV2 per feed element: actor, commentary, updateMetadata, socialDetail,
resharedUpdate), and refusing as LinkedIn does (401 or a redirect to the login page when
signed out, 403 "CSRF check failed." without a matching csrf-token, a CHALLENGE login).

Endpoints:
- GET  /uas/authenticate                          sets a JSESSIONID cookie
- POST /uas/authenticate                          {"login_result": "PASS" | "CHALLENGE" | …}
- GET  /voyager/api/voyagerIdentityDashProfiles    ?q=memberIdentity&memberIdentity=<id>
- GET  /voyager/api/identity/profileUpdatesV2      ?q=memberShareFeed&profileUrn=…&count&start
                                                   (&paginationToken from the previous page)
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.http_server import LocalServer

VOYAGER = "/voyager/api"
PROFILES = f"{VOYAGER}/voyagerIdentityDashProfiles"
UPDATES = f"{VOYAGER}/identity/profileUpdatesV2"


@dataclass
class Member:
    public_id: str
    first_name: str
    last_name: str
    number: int
    headline: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def profile_id(self) -> str:
        return "ACoAA" + hashlib.sha1(self.public_id.encode()).hexdigest()[:30].upper()

    @property
    def profile_urn(self) -> str:
        return f"urn:li:fsd_profile:{self.profile_id}"

    @property
    def member_urn(self) -> str:
        return f"urn:li:member:{self.number}"


@dataclass
class Update:
    """A post (or a reshare, with `reshared`): ids carry their time as LinkedIn's do."""

    actor: Member
    text: str
    at: datetime
    activity_id: int
    share_id: int
    reshared: Update | None = None

    @property
    def urn(self) -> str:
        return f"urn:li:activity:{self.activity_id}"

    @property
    def share_urn(self) -> str:
        return f"urn:li:ugcPost:{self.share_id}"


@dataclass
class _Entry:
    """A line of a member's activity feed: their update, or someone's they reposted."""

    update: Update
    at: datetime
    reposted_by: Member | None = None


@dataclass
class _Account:
    password: str
    member: Member
    result: str = "PASS"  # or CHALLENGE: LinkedIn wants a human to check


class LinkedInEmulator(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, Member] = {}  # li_at -> whose session it is
        self.accounts: dict[str, _Account] = {}
        self.delays: dict[str, float] = {}  # path -> seconds before answering
        self.voyager_requests: list[str] = []  # "path?query" of each Voyager call, in order
        self.on_request: Callable[[str], None] | None = None
        self.signed_out_status = 401  # what a Voyager call without a valid li_at gets (or 302)
        self.refusal: int | None = None  # a status every Voyager call gets (429: rate limited)
        self._members: dict[str, Member] = {}
        self._feeds: dict[str, list[_Entry]] = {}
        self._tokens: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.route("/uas/authenticate", self._login_page, "GET")
        self.route("/uas/authenticate", self._login, "POST")
        self.route(PROFILES, self._profiles, "GET")
        self.route(UPDATES, self._updates, "GET")

    # -- building the world --------------------------------------------------------------

    def member(self, public_id: str, first: str, last: str, headline: str = "") -> Member:
        member = Member(public_id, first, last, 100_000 + len(self._members), headline)
        self._members[public_id] = member
        self._feeds[public_id] = []
        return member

    def post(
        self, member: Member, text: str, at: datetime, reshared: Update | None = None
    ) -> Update:
        update = Update(member, text, at, self._id(at), self._id(at), reshared)
        self._feeds[member.public_id].append(_Entry(update, at))
        return update

    def repost(self, member: Member, update: Update, at: datetime) -> None:
        """A repost without words: the original post shows on `member`'s feed."""
        self._feeds[member.public_id].append(_Entry(update, at, reposted_by=member))

    def account(self, username: str, password: str, member: Member, result: str = "PASS") -> None:
        self.accounts[username] = _Account(password, member, result)

    def session(self, member: Member) -> tuple[str, str]:
        """A signed-in browser session's (li_at, JSESSIONID)."""
        li_at = "AQEDAR" + secrets.token_urlsafe(24)
        self.sessions[li_at] = member
        return li_at, f"ajax:{secrets.randbelow(10**19):019d}"

    def sign_out_everyone(self) -> None:
        self.sessions.clear()

    def _id(self, at: datetime) -> int:
        return (int(at.timestamp() * 1000) << 22) | next(self._ids)

    # -- sign-in -------------------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(text="", content_type="text/html")
        token = f"ajax:{secrets.randbelow(10**19):019d}"
        response.headers.add("Set-Cookie", f'JSESSIONID="{token}"; Path=/')
        response.headers.add("Set-Cookie", "bcookie=v=2&abc; Path=/")
        return response

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        jsessionid = request.cookies.get("JSESSIONID", "")
        if not jsessionid or str(form.get("JSESSIONID", "")).strip('"') != jsessionid.strip('"'):
            return web.json_response({"login_result": "BAD_REQUEST"}, status=400)
        account = self.accounts.get(str(form.get("session_key", "")))
        if account is None:
            return web.json_response({"login_result": "BAD_EMAIL"}, status=401)
        if str(form.get("session_password", "")) != account.password:
            return web.json_response({"login_result": "BAD_PASSWORD"}, status=401)
        if account.result == "CHALLENGE":
            return web.json_response(
                {
                    "login_result": "CHALLENGE",
                    "challenge_url": "https://www.linkedin.com/checkpoint/challenge/AgH"
                    + secrets.token_urlsafe(16),
                }
            )
        li_at, _ = self.session(account.member)
        response = web.json_response({"login_result": "PASS"})
        response.headers.add("Set-Cookie", f"li_at={li_at}; Path=/; HttpOnly")
        return response

    # -- Voyager -------------------------------------------------------------------------

    async def _voyager(self, request: web.Request) -> web.StreamResponse | None:
        """Log, delay and check a Voyager call as LinkedIn would; None when it may go on."""
        self.voyager_requests.append(request.path_qs)
        if self.on_request is not None:
            self.on_request(request.path_qs)
        if delay := self.delays.get(request.path):
            await asyncio.sleep(delay)
        if self.refusal is not None:
            return web.json_response({"status": self.refusal}, status=self.refusal)
        if request.cookies.get("li_at", "").strip('"') not in self.sessions:
            if self.signed_out_status == 302:
                raise web.HTTPFound("/uas/login?session_redirect=%2Fvoyager%2Fapi")
            return web.json_response({"status": 401}, status=401)
        jsessionid = request.cookies.get("JSESSIONID", "").strip('"')
        if not jsessionid or request.headers.get("csrf-token") != jsessionid:
            return web.Response(text="CSRF check failed.", status=403)
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return web.json_response({"status": 400, "message": "restli 2.0 only"}, status=400)
        return None

    async def _profiles(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._voyager(request)) is not None:
            return refused
        query = request.query
        member = self._members.get(query.get("memberIdentity", ""))
        if query.get("q") != "memberIdentity":
            return web.json_response({"status": 400}, status=400)
        if member is None:
            return web.json_response({"status": 404}, status=404)
        return web.json_response(
            {
                "elements": [
                    {
                        "entityUrn": member.profile_urn,
                        "objectUrn": member.member_urn,
                        "publicIdentifier": member.public_id,
                        "firstName": member.first_name,
                        "lastName": member.last_name,
                        "headline": member.headline,
                        "multiLocaleFirstName": {"en_US": member.first_name},
                        "multiLocaleLastName": {"en_US": member.last_name},
                        "premium": False,
                    }
                ],
                "paging": {"start": 0, "count": 10, "total": 1, "links": []},
            }
        )

    async def _updates(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._voyager(request)) is not None:
            return refused
        query = request.query
        member = next(
            (m for m in self._members.values() if m.profile_urn == query.get("profileUrn")), None
        )
        count, start = int(query.get("count", "10")), int(query.get("start", "0"))
        bad = query.get("q") != "memberShareFeed" or member is None or not 0 < count <= 100
        if bad or (start and self._tokens.get(query.get("paginationToken", "")) != start):
            return web.json_response({"status": 400}, status=400)
        assert member is not None
        feed = sorted(self._feeds[member.public_id], key=lambda e: e.at, reverse=True)
        page = feed[start : start + count]
        token = ""
        if start + count < len(feed):
            token = f"{member.number}-{start + count}-{secrets.token_hex(16)}"
            self._tokens[token] = start + count
        return web.json_response(
            {
                "elements": [self._element(e.update, e.reposted_by) for e in page],
                "metadata": {"paginationToken": token},
                "paging": {"start": start, "count": count, "links": []},
            }
        )

    def _element(self, update: Update, reposted_by: Member | None = None) -> dict[str, Any]:
        actor = update.actor
        entity = f"({update.urn},MEMBER_SHARES,EMPTY,DEFAULT,false)"
        element: dict[str, Any] = {
            "entityUrn": f"urn:li:fs_updateV2:{entity}",
            "dashEntityUrn": f"urn:li:fsd_update:{entity}",
            "updateMetadata": {
                "urn": update.urn,
                "shareUrn": update.share_urn,
                "actionsPosition": "ACTOR_COMPONENT",
                "actions": [{"actionType": "SHARE_VIA", "text": "Copy link to post"}],
                "trackingData": {"trackingId": secrets.token_urlsafe(12)},
            },
            "actor": {
                "urn": actor.member_urn,
                "name": {
                    "text": actor.name,
                    "attributes": [
                        {
                            "start": 0,
                            "length": len(actor.name),
                            "type": "PROFILE_FULLNAME",
                            "miniProfile": {
                                "firstName": actor.first_name,
                                "lastName": actor.last_name,
                                "occupation": actor.headline,
                                "publicIdentifier": actor.public_id,
                                "entityUrn": f"urn:li:fs_miniProfile:{actor.profile_id}",
                                "objectUrn": actor.member_urn,
                            },
                        }
                    ],
                },
                "description": {"text": actor.headline},
                "subDescription": {
                    "text": f"{_age(update.at)} • ",
                    "accessibilityText": f"{_age(update.at)} ago",
                },
                "navigationContext": {
                    "actionTarget": f"https://www.linkedin.com/in/{actor.public_id}"
                    f"?miniProfileUrn=urn%3Ali%3Afs_miniProfile%3A{actor.profile_id}"
                },
            },
            "socialDetail": {
                "urn": update.urn,
                "totalSocialActivityCounts": {
                    "numLikes": 12,
                    "numComments": 3,
                    "numShares": 1,
                    "reactionTypeCounts": [{"count": 12, "reactionType": "LIKE"}],
                },
            },
        }
        if update.text:
            element["commentary"] = {
                "text": {"text": update.text, "attributes": [], "textDirection": "USER_LOCALE"},
                "numLines": 3,
                "templateType": "DEFAULT",
            }
        if update.reshared is not None:
            element["resharedUpdate"] = self._element(update.reshared)
        if reposted_by is not None:
            element["header"] = {"text": {"text": f"{reposted_by.name} reposted this"}}
        return element


def _age(at: datetime) -> str:
    days = max(0, (datetime.now(UTC) - at).days)
    if days >= 365:
        return f"{days // 365}yr"
    if days >= 30:
        return f"{days // 30}mo"
    return f"{days // 7}w" if days >= 7 else f"{days}d"
