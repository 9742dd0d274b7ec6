"""How a LinkedIn crawl signs in as the owner (`LinkedInCredentials`, from the environment or
a browser's cookies.txt), and what each refusal tells the owner to do instead."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import Cookie, LoadError, MozillaCookieJar
from pathlib import Path

from core.errors import ConfigError, InputError

__all__ = ["CHALLENGE", "ENV_COOKIES", "ENV_PASSWORD", "ENV_USERNAME", "EXPORT"]
__all__ += ["NO_CREDENTIALS", "SIGNED_OUT", "LinkedInCredentials", "read_cookies"]

ENV_USERNAME = "TWIN_LINKEDIN__USERNAME"
ENV_PASSWORD = "TWIN_LINKEDIN__PASSWORD"
ENV_COOKIES = "TWIN_LINKEDIN__COOKIES"
EXPORT = (
    "import your data export instead: Settings → Data privacy → Get a copy of your data,"
    " then `llm-twin ingest Basic_LinkedInDataExport.zip`"
)
CHALLENGE = (
    "LinkedIn asked for a security challenge (it does this to automated logins): sign in"
    f" in a browser and set {ENV_COOKIES} from it, or {EXPORT}"
)
SIGNED_OUT = (
    "LinkedIn says this session is signed out (its cookies expired or were revoked): copy"
    f" fresh li_at and JSESSIONID cookies from a browser into {ENV_COOKIES}, or {EXPORT}"
)
NO_CREDENTIALS = (
    f"reading LinkedIn needs your session: set {ENV_COOKIES} (your browser's li_at and"
    f" JSESSIONID cookies, or a cookies.txt file) or {ENV_USERNAME} and {ENV_PASSWORD};"
    f" or {EXPORT}"
)


@dataclass(frozen=True, slots=True)
class LinkedInCredentials:
    """How a crawl signs in as the owner; secrets stay out of `repr` and logs.

    Simplest and safest is a browser session's cookies (no new login for LinkedIn to
    challenge): `li_at` and `JSESSIONID` (DevTools → Application → Cookies →
    www.linkedin.com), or a Netscape cookies.txt a browser extension exported. A username
    and password work too, but LinkedIn often answers a scripted login with a challenge."""

    username: str = ""
    password: str = field(default="", repr=False)
    li_at: str = field(default="", repr=False)
    jsessionid: str = field(default="", repr=False)
    cookies_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LinkedInCredentials | None:
        """From TWIN_LINKEDIN__COOKIES, else TWIN_LINKEDIN__USERNAME and
        TWIN_LINKEDIN__PASSWORD; None when none is set."""
        cookies = env.get(ENV_COOKIES, "").strip()
        if cookies:
            return cls.from_cookies(cookies)
        username, password = env.get(ENV_USERNAME, "").strip(), env.get(ENV_PASSWORD, "")
        if bool(username) != bool(password):
            raise ConfigError(f"set both {ENV_USERNAME} and {ENV_PASSWORD}, or {ENV_COOKIES}")
        return cls(username=username, password=password) if username else None

    @classmethod
    def from_cookies(cls, value: str) -> LinkedInCredentials:
        """A Cookie header's `li_at=…; JSESSIONID="ajax:…"`, or a cookies.txt path."""
        if "li_at=" not in value:
            return cls(cookies_file=Path(value).expanduser())
        pairs = dict(p.strip().partition("=")[::2] for p in value.split(";") if "=" in p)
        li_at, jsessionid = pairs.get("li_at", ""), pairs.get("JSESSIONID", "")
        if not (li_at and jsessionid):
            raise ConfigError(f"{ENV_COOKIES} needs both li_at=… and JSESSIONID=… cookies")
        return cls(li_at=li_at, jsessionid=jsessionid)


def read_cookies(path: Path, source: str) -> tuple[str, str]:
    """li_at and JSESSIONID from a Netscape cookies.txt."""
    jar = MozillaCookieJar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except FileNotFoundError:
        raise InputError(source, f"the LinkedIn cookies file {path} does not exist") from None
    except (LoadError, OSError, UnicodeDecodeError) as exc:
        raise InputError(source, f"cannot read {path} as a cookies.txt file: {exc}") from None
    found: dict[str, Cookie] = {}
    for cookie in jar:
        if cookie.name in ("li_at", "JSESSIONID") and cookie.value:
            found[cookie.name] = cookie
    if set(found) != {"li_at", "JSESSIONID"}:
        raise InputError(
            source, f"{path} holds no li_at and JSESSIONID cookies: export them from a browser"
        )
    if (expires := found["li_at"].expires) is not None and 0 < expires < time.time():
        raise InputError(source, SIGNED_OUT)
    return str(found["li_at"].value), str(found["JSESSIONID"].value)
