"""Signing in to the web app in Chromium, across restarts: the token is kept in TWIN_HOME,
so a tab left open keeps working after `serve` restarts, and a new tab at `/` is signed
in; after `llm-twin web-token --rotate` the tab says how to get in, and pasting the new
`#token=` address into the same tab signs it in again without a reload."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from model.hf import HfGenerator
from tests.e2e.web_support import console_errors, css, find, find_all, screenshot, wait
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow


def signed_in(browser: Any) -> bool:
    shown = [p for p in css(browser, '[data-testid^="page-"]') if p.is_displayed()]
    return not find(browser, "login").is_displayed() and bool(shown)


def test_an_open_tab_survives_a_restart_and_takes_a_rotated_token_without_a_reload(
    browser: Any, smol: HfGenerator
) -> None:
    with running_serve(smol) as srv:
        port, token, base = urlsplit(srv.base).port, srv.token, srv.base
        browser.get(srv.page)
        wait(browser, lambda _: signed_in(browser))
        browser.execute_script("window.sameDocument = 'yes'")  # gone if the page reloads

    with running_serve(smol, {"web.port": str(port)}) as srv:
        assert srv.token == token  # kept in TWIN_HOME
        find(browser, "nav-schedules").click()  # the open tab, after the restart
        wait(browser, lambda _: find_all(browser, "schedule"))
        assert signed_in(browser)

        browser.switch_to.new_window("tab")  # a new tab at / is signed in too
        browser.get(f"{base}/")
        wait(browser, lambda _: signed_in(browser))
        browser.close()
        browser.switch_to.window(browser.window_handles[0])

        result = CliRunner().invoke(cli, ["--set", f"web.port={port}", "web-token", "--rotate"])
        assert result.exit_code == 0, result.output
        address = result.output.strip().splitlines()[0]
        assert address.startswith(f"{base}/#token=") and token not in address

        find(browser, "nav-sources").click()  # the old token: the page says how to get in
        wait(browser, lambda _: find(browser, "login").is_displayed())
        assert "missing or wrong token" in find(browser, "login-reason").text
        assert "llm-twin web-token" in find(browser, "login").text
        screenshot(browser, "signed-out")

        browser.execute_script("location.href = arguments[0]", address)  # pasted in the bar
        wait(browser, lambda _: signed_in(browser))
        assert browser.execute_script("return window.sameDocument") == "yes"  # no reload
        assert "#token" not in browser.current_url
        find(browser, "nav-sources").click()
        wait(browser, lambda _: find_all(browser, "no-sources"))
        assert console_errors(browser) == []


def test_a_token_pasted_into_the_sign_in_panel_works(browser: Any, smol: HfGenerator) -> None:
    with running_serve(smol) as srv:
        browser.get(f"{srv.base}/#/history")
        find(browser, "token-input").send_keys(srv.page)  # the whole address, as printed
        find(browser, "token-input").submit()
        wait(browser, lambda _: find(browser, "page-history").is_displayed())  # where it was
        assert browser.current_url.endswith("#/history")
        assert console_errors(browser) == []
