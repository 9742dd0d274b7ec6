from __future__ import annotations

import pytest

from core.errors import InputError
from ingest.urls import looks_like_url, normalize_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.com/post", "https://example.com/post"),
        ("  HTTP://Example.COM:80/a?b=1&c=2#section  ", "http://example.com/a?b=1&c=2"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("www.example.com/x", "https://www.example.com/x"),
        ("WWW.Example.com", "https://www.example.com/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"),
        ("http://café.example/café?q=é", "http://xn--caf-dma.example/caf%C3%A9?q=%C3%A9"),
        ("http://example.com/caf%C3%A9", "http://example.com/caf%C3%A9"),
        ("https://sub_domain.example.com/", "https://sub_domain.example.com/"),
        ("http://10.1.2.3/", "http://10.1.2.3/"),  # refusing addresses is the SSRF guard's job
    ],
)
def test_normalize_url_canonical_form(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("ftp://example.com/file", "unsupported scheme 'ftp:'; only http:// and https://"),
        ("file:///etc/passwd", "unsupported scheme 'file:'"),
        ("javascript:alert(1)", "unsupported scheme 'javascript:'"),
        ("data:text/html,<b>hi</b>", "unsupported scheme 'data:'"),
        ("mailto:me@example.com", "unsupported scheme 'mailto:'"),
        ("example.com/post", "missing scheme; only http:// and https://"),
        ("//example.com/post", "missing scheme"),
        ("localhost:8080/x", "missing scheme"),
        ("", "empty link"),
        ("   ", "empty link"),
        ("http://", "missing host"),
        ("http:///path", "missing host"),
        ("http:example.com", "missing host"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/a b", "whitespace"),
        ("http://example.com/\x00", "control characters"),
        ("http:\\\\evil.example\\x", "backslash"),
        ("http://example.com:99999/", "invalid port"),
        ("http://example.com:http/", "invalid port"),
        ("http://example.com:0/", "port 0"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://evil.example@127.0.0.1/", "user name or password"),
        ("http://2130706433/", "numeric host '2130706433' is not a dotted IPv4"),
        ("http://127.1/", "numeric host '127.1'"),
        ("http://0x7f.0.0.1/", "numeric host"),
        ("http://0177.0.0.1/", "numeric host"),
        ("http://a..b/", "invalid host name"),
        ("http://-bad.example/", "invalid host name"),
        ("http://bad!.example/", "invalid host name"),
        ("http://" + "a" * 64 + ".example/", "invalid host name"),
        ("http://[zz::1]/", "malformed link"),
        ("http://[fe80::1%25eth0]/", "zone ids"),
    ],
)
def test_normalize_url_rejects_with_reason(raw: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        normalize_url(raw)
    assert fragment in caught.value.reason
    assert caught.value.source == raw
    assert "\n" not in caught.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com", True),
        ("http://x", True),
        ("ftp://example.com", True),  # a URL, if an unsupported one: normalize_url explains
        ("javascript:alert(1)", True),
        ("www.example.com/post", True),
        ("  www.example.com", True),
        ("notes/post.md", False),
        ("./export.zip", False),
        ("/home/me/linkedin.zip", False),
        ("C:\\Users\\me\\post.md", False),
        ("post.md", False),
    ],
)
def test_looks_like_url(text: str, expected: bool) -> None:
    assert looks_like_url(text) is expected
