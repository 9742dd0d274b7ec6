"""Slack ack latency while the model is busy.

Slack gives an app 3 seconds to acknowledge a slash command. The adapter acks at once and
works in background tasks; this checks that it stays that way under load. The adapter
runs in HTTP mode against the Web API emulator (tests/bot/slack_emulator.py) with a real
ChatHandler: SmolLM2 on CPU, the sample writing ingested, drafting.max_new_tokens 200.

a. Baseline: the bot idle, 20 signed `/twin help` commands one at a time.
b. Burst, idle start: 50 concurrent signed slash commands from distinct allowed users, a
   mix of help, status, search and draft.
c. Burst under load: one draft started first (generating throughout), then the same mix.

Latency is the HTTP response time of the signed POST, measured by a client on the same
event loop as the bot (so a blocked loop shows). Every command must also be answered: a
chat.postMessage in its own channel (drafts: their first text), waited for with a timeout.

GC pause: the longest garbage-collector pause during each burst (it stops the loop too).

    python bench/slack_ack_bench.py [--burst 50] [--new-tokens 200] [--threads 0] [--gc-freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.bot.slack_emulator import ApiCall, SlackEmulator, SlackSender

ROOT = Path(__file__).resolve().parents[1]
ACK_TARGET_S = 3.0
DRAFT_EVERY = 12  # one command in 12 is a draft; the rest cycle help, status, search


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class GcPauses:
    """The garbage collector's pauses while active (they stop the event loop too)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)

    @property
    def longest(self) -> float:
        return max(self.pauses, default=0.0)


def posted_in(channel: str) -> Callable[[ApiCall], bool]:
    return lambda c: c.method == "chat.postMessage" and c.params.get("channel") == channel


def mix(n: int) -> list[tuple[str, str]]:
    """(kind, command text) for n commands."""
    out = []
    for i in range(n):
        if i % DRAFT_EVERY == DRAFT_EVERY // 2:
            out.append(("draft", f"draft linkedin lesson {i}: ship the small model first"))
        else:
            kind = ("help", "status", "search")[i % 3]
            out.append((kind, "search small models on a laptop" if kind == "search" else kind))
    return out


async def burst(
    send: SlackSender, api: SlackEmulator, phase: str, commands: list[tuple[str, str]]
) -> dict[str, Any]:
    """Fire all commands at once; ack latencies, and per kind the time to the first post."""
    started = time.perf_counter()

    async def one(i: int, text: str) -> tuple[float, int]:
        sent = await send.command(text, user=f"U{phase}{i}", channel=f"C{phase}{i}")
        return sent.seconds, sent.status

    with GcPauses() as collector:
        acks = await asyncio.gather(*(one(i, text) for i, (_, text) in enumerate(commands)))
    answered: dict[str, list[float]] = {}
    missing = 0
    for i, (kind, _) in enumerate(commands):
        channel = f"C{phase}{i}"
        try:
            call = await api.wait_for(posted_in(channel), within=600)
        except TimeoutError:
            missing += 1
            continue
        answered.setdefault(kind, []).append(call.at - started)
    seconds = [s for s, _ in acks]
    return {
        "n": len(commands),
        "ok": sum(status == 200 for _, status in acks),
        "p50": percentile(seconds, 50),
        "p99": percentile(seconds, 99),
        "max": max(seconds),
        "answered": len(commands) - missing,
        "answer_by_kind": answered,
        "gc_pause": collector.longest,
    }


async def drafts_settled(api: SlackEmulator, count: int) -> None:
    """Wait until `count` drafts have their final message (with the feedback buttons)."""
    await api.wait_for(
        lambda _: sum(any(b["type"] == "actions" for b in c.blocks) for c in api.calls) >= count,
        within=900,
    )


async def run(args: argparse.Namespace, home: Path) -> None:
    from bot.chat.slack.adapter import start_slack
    from model.hf import HfGenerator, default_model_source
    from tests.bot.slack_emulator import (
        BOT_TOKEN,
        SIGNING_SECRET,
        SlackEmulator,
        SlackSender,
    )
    from tests.chat_support import chat_handler

    os.environ["TWIN_HOME"] = str(home)
    os.environ["TWIN_SLACK__BOT_TOKEN"] = BOT_TOKEN
    os.environ["TWIN_SLACK__SIGNING_SECRET"] = SIGNING_SECRET
    generator = HfGenerator(default_model_source(), cache_dir=home / "models", threads=args.threads)
    api = SlackEmulator()
    await api.start()
    users = [f"U{phase}{i}" for phase in "ABL" for i in range(args.burst)] + ["UL"]
    overrides = {
        "slack.allowed_user_ids": ",".join(users),
        "slack.base_url": api.base_url,
        "slack.port": "0",
        "drafting.max_new_tokens": str(args.new_tokens),
        "model.max_new_tokens": str(args.new_tokens),
    }
    import aiohttp

    async with chat_handler(generator, overrides) as (handler, twin), AsyncExitStack() as stack:
        started = await start_slack(twin.config, handler, stack, host="127.0.0.1")
        session = await stack.enter_async_context(aiohttp.ClientSession())
        send = SlackSender(started.removeprefix("HTTP events at "), session, api)
        if args.gc_freeze:  # what a long-running server can do once its models are loaded
            gc.collect()
            gc.freeze()

        single = []
        for i in range(20):
            sent = await send.command("help", user="UA0", channel=f"CS{i}")
            single.append(sent.seconds)
            await api.wait_for(posted_in(f"CS{i}"))
        commands = mix(args.burst)
        drafts = sum(kind == "draft" for kind, _ in commands)
        idle = await burst(send, api, "A", commands)
        await drafts_settled(api, drafts)

        await send.command("draft article why we ship the small model first", user="UL")
        await api.wait_for(lambda c: c.params.get("channel") == "C1" and c.method == "chat.update")
        busy_generating = handler.drafts_in_flight
        loaded = await burst(send, api, "B", commands)
        still_generating = handler.drafts_in_flight
        await drafts_settled(api, 2 * drafts + 1)
    await generator.aclose()
    await api.close()
    report(args, single, idle, loaded, busy_generating, still_generating)


def report(
    args: argparse.Namespace,
    single: list[float],
    idle: dict[str, Any],
    loaded: dict[str, Any],
    busy_at_start: int,
    busy_at_end: int,
) -> None:
    ms = 1000
    print(f"\nSlack ack latency, {args.burst} concurrent signed slash commands per burst\n")
    frozen = " (gc frozen)" if args.gc_freeze else ""
    print(
        "| run | commands | HTTP 200 | ack p50 ms | ack p99 ms | max ms | answered | GC pause ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| baseline: idle, one at a time{frozen} | {len(single)} | {len(single)} | "
        f"{percentile(single, 50) * ms:.1f} | {percentile(single, 99) * ms:.1f} | "
        f"{max(single) * ms:.1f} | {len(single)}/{len(single)} | |"
    )
    for name, r in (("burst, idle start", idle), ("burst, a draft generating", loaded)):
        print(
            f"| {name}{frozen} | {r['n']} | {r['ok']} | {r['p50'] * ms:.1f} | "
            f"{r['p99'] * ms:.1f} | {r['max'] * ms:.1f} | {r['answered']}/{r['n']} | "
            f"{r['gc_pause'] * ms:.0f} |"
        )
    verdict = "✓" if loaded["p99"] < ACK_TARGET_S else "✗"
    print(
        f"\nunder load: p99 {loaded['p99'] * ms:.0f} ms (target < {ACK_TARGET_S * ms:.0f} ms "
        f"{verdict}); p99 ratio to the idle burst {loaded['p99'] / idle['p99']:.2f}, to one at "
        f"a time {loaded['p99'] / percentile(single, 99):.1f}"
    )
    print(f"drafts in flight when the loaded burst began / ended: {busy_at_start} / {busy_at_end}")
    print(
        "\n| answered within (s), median / max | "
        + " | ".join(("help", "status", "search", "draft"))
        + " |"
    )
    print("|---|---|---|---|---|")
    for name, r in (("idle start", idle), ("a draft generating", loaded)):
        cells = []
        for kind in ("help", "status", "search", "draft"):
            times = r["answer_by_kind"].get(kind, [])
            cells.append(f"{statistics.median(times):.2f} / {max(times):.2f}" if times else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once the bot is up (see RESULTS)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests/ (the emulator, the chat fixtures) is not installed
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
