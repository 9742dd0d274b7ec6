"""The Training & models page in Chromium following a real short run of the bundled
SmolLM2 (the child process the chat's `train` starts): a new owner's dataset build points
to Settings for owner.names, the names are saved there, the dataset builds, a run started
from the page is followed live (step, loss, time left, the loss chart), its evaluation
table and charts show when it ends, and the run, then the base model, is activated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from model.hf import HfGenerator
from tests.bot.web.test_api_training import NO_OWNER, SMALL_TRAINING, ingest_sample
from tests.e2e.web_support import console_errors, css, find, find_all, go, screenshot, wait
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow

# Every text the step line shows while the run goes on, and whether a time left was shown.
WATCH = """
window.stepsSeen = []; window.etaSeen = false;
new MutationObserver(() => {
  const step = document.querySelector('[data-testid="train-step"]');
  const eta = document.querySelector('[data-testid="train-eta"]');
  if (step && !window.stepsSeen.includes(step.textContent)) window.stepsSeen.push(step.textContent);
  if (eta && /\\d+ s|min/.test(eta.textContent)) window.etaSeen = true;
}).observe(document.querySelector('[data-testid="training-progress"]'),
           {subtree: true, childList: true, characterData: true});
"""


async def test_a_short_run_followed_live_evaluated_and_activated(
    browser: Any, smol: HfGenerator, monkeypatch: pytest.MonkeyPatch, twin_home: Path
) -> None:
    for key, value in SMALL_TRAINING.items():
        monkeypatch.setenv(f"TWIN_TRAINING__{key}", value)
    await ingest_sample()
    with running_serve(smol, NO_OWNER) as srv:
        browser.get(srv.page)
        go(browser, "#/training")
        find(browser, "build-dataset").click()
        line = wait(browser, lambda _: find_all(browser, "set-names"))[0]
        assert "owner.names" in find(browser, "dataset-log").text
        line.click()  # to Settings, where the names are set

        names = find(browser, "setting-owner.names")
        wait(browser, lambda _: names.is_displayed())
        names.send_keys("Sam Rivera")
        find(browser, "save-settings").click()
        wait(browser, lambda _: "Saved" in find(browser, "settings-status").text)

        go(browser, "#/training")
        find(browser, "build-dataset").click()
        wait(browser, lambda _: "train and" in find(browser, "dataset-log").text, 120)
        assert not find_all(browser, "set-names")

        browser.execute_script(WATCH)
        find(browser, "train-steps").send_keys("3")
        find(browser, "start-training").click()
        wait(browser, lambda _: "Training started" in find(browser, "train-start-status").text)
        wait(browser, lambda _: find_all(browser, "cancel-training"), 60)  # running, stoppable
        outcome = wait(browser, lambda _: find_all(browser, "train-outcome"), 600)[0]
        assert "trained" in outcome.text.lower() or "run" in outcome.text.lower(), outcome.text
        seen = browser.execute_script("return window.stepsSeen")
        assert "step 1 of 3" in seen and "step 3 of 3" in seen, seen  # followed live
        assert browser.execute_script("return window.etaSeen") is True
        chart = find(browser, "loss-chart")
        assert int(chart.get_attribute("data-points")) >= 3
        assert css(browser, '[data-testid="loss-chart"] path.line')
        assert "loss" in find(browser, "train-loss").text

        run = wait(browser, lambda _: find_all(browser, "run"), 60)[0]
        run_id = run.get_attribute("data-run-id")
        assert "trained" in run.text
        evaluation = find(run, "run-eval")
        evaluation.find_element("css selector", "summary").click()
        table = find(run, "eval-table")
        assert "perplexity" in table.text and "you" in table.text
        assert find_all(browser, "eval-chart", run)
        assert find_all(browser, "model-row")  # the models on this machine
        screenshot(browser, "training")

        # Promoted or not, back to base and to the run again, from the page.
        find(browser, "activate-base").click()
        wait(browser, lambda _: "Active model: base" in find(browser, "runs-status").text)
        wait(browser, lambda _: not find_all(browser, "run-active"))
        run = wait(browser, lambda _: find_all(browser, "activate"))[0]
        run.click()
        wait(browser, lambda _: f"Active model: {run_id}" in find(browser, "runs-status").text)
        wait(browser, lambda _: find_all(browser, "run-active"))
        assert console_errors(browser) == []
