"""The command line's start-up and latency (issue 19), each command a fresh child process
run as the owner runs it.

a. Commands that need no model, against two baselines measured in the same run and
   interleaved round by round with them: `python -c pass` and `python -c "import torch"`.
   Targets: `--help`, `config`, `sources`, `schedules`, `forget` (a stored source, so the
   index is opened) and a refused `ingest` (an ftp:// link, a loopback link) each
   ≤ 1.5 × pass + 0.5 s; `search` working alone ≤ 2 × the torch import.
b. `search`, `forget` and `draft` through a running bot (`serve` on the same TWIN_HOME, its model
   and index warm) against the same commands working alone (`--local`, which loads them).
   Drafts are greedy and short (drafting.max_new_tokens, small context) so the run ends;
   each round drafts another prompt.

Setup: a temporary TWIN_HOME with sample/ ingested. The machine is shared: every figure
is a median over rounds, and the load average is printed before and after. Part a also
reports each command's CPU time (user + system): a busy machine stretches wall time by
the wait for a core, not the CPU time, which is close to the wall time of an idle box.

    python bench/cli_bench.py [--rounds 7] [--draft-rounds 3] [--new-tokens 32] [--part a|b]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
PY = sys.executable
QUERY = "should I fine-tune or use retrieval?"
# One prompt per draft round, the same for both ways: no round finds its whole prompt in
# the bot's llama.cpp cache (the shared system prompt still is: that is the warm bot).
PROMPTS = [
    "Why retrieval comes before fine-tuning",
    "What being on call taught me about writing things down",
    "Is SQLite enough for a small team's first warehouse?",
    "Evals are the product spec",
    "Ship the smallest model that works",
]


def settings(new_tokens: int) -> list[str]:
    pairs = {
        "drafting.max_new_tokens": str(new_tokens),
        "drafting.temperature": "0",
        "drafting.k": "2",
        "drafting.context_tokens": "300",
        "drafting.voice_tokens": "200",
        "owner.name": "Sam Rivera",
        "schedules.enabled": "false",
    }
    return [arg for key, value in pairs.items() for arg in ("--set", f"{key}={value}")]


def timed(args: Sequence[str], env: dict[str, str], ok: Sequence[int] = (0,)) -> float:
    return measured(args, env, ok)[0]


def measured(
    args: Sequence[str], env: dict[str, str], ok: Sequence[int] = (0,)
) -> tuple[float, float]:
    """Wall seconds, and the CPU seconds (user + system) the child used: on a busy
    machine the wall time waits for a core, the CPU time is what it costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def startup(
    home: Path, rounds: int, flags: list[str]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Part a: each command once per round, interleaved with the two baselines."""
    env = {**os.environ, "TWIN_HOME": str(home), "TWIN_LOCAL": "1"}
    cli = [PY, "-m", "bot", *flags]
    post = home.parent / "bench-post.md"
    commands: dict[str, tuple[list[str], tuple[int, ...]]] = {
        "python -c pass": ([PY, "-c", "pass"], (0,)),
        'python -c "import torch"': ([PY, "-c", "import torch"], (0,)),
        "--help": ([*cli, "--help"], (0,)),
        "config": ([*cli, "config"], (0,)),
        "sources": ([*cli, "sources"], (0,)),
        "schedules": ([*cli, "schedules"], (0,)),
        "forget (a stored source)": ([*cli, "forget", post.resolve().as_uri()], (0,)),
        "ingest ftp://… (refused)": ([*cli, "ingest", "ftp://example.com/post"], (1,)),
        "ingest http://127.0.0.1/… (refused)": ([*cli, "ingest", "http://127.0.0.1/x"], (1,)),
        "search (alone)": ([*cli, "search", QUERY], (0,)),
    }
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for n in range(rounds):
        post.write_text(f"# Bench post {n}\n\nA post written for round {n} of the bench.\n")
        timed([*cli, "ingest", str(post)], env)  # what `forget` removes this round
        for name, (args, ok) in commands.items():
            took, used = measured(args, env, ok)
            wall[name].append(took)
            cpu[name].append(used)
        print(f"  round {n + 1}/{rounds} done (load {load()})", file=sys.stderr)
    return wall, cpu


def report_startup(times: dict[str, list[float]], what: str) -> None:
    med = {name: statistics.median(ts) for name, ts in times.items()}
    bare, torch = med["python -c pass"], med['python -c "import torch"']
    bound = 1.5 * bare + 0.5
    print(f"\n{what}\n\n| command | median s | × pass | × import torch | target | |")
    print("|---|---|---|---|---|---|")
    for name, value in med.items():
        if name.startswith("python"):
            print(f"| `{name}` | {value:.3f} | {value / bare:.1f} | {value / torch:.2f} | | |")
            continue
        if name.startswith("search"):
            target, ok = f"≤ 2 × torch = {2 * torch:.2f} s", value <= 2 * torch
        else:
            target, ok = f"≤ 1.5 × pass + 0.5 = {bound:.2f} s", value <= bound
        mark = "✓" if ok else "✗"
        ratios = f"{value / bare:.1f} | {value / torch:.2f}"
        print(f"| `{name}` | {value:.3f} | {ratios} | {target} | {mark} |")


def start_bot(home: Path, flags: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "TWIN_HOME": str(home)}
    bot = subprocess.Popen(
        [PY, "-m", "bot", *flags, "serve", "--port", "0"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert bot.stdout is not None
    for line in bot.stdout:
        if line.startswith("ready"):
            return bot
    raise SystemExit("serve did not start")


def through_the_bot(
    home: Path, rounds: int, draft_rounds: int, flags: list[str]
) -> dict[str, list[float]]:
    """Part b: the same command through the bot and alone, alternating."""
    bot_env = {**os.environ, "TWIN_HOME": str(home)}
    bot_env.pop("TWIN_LOCAL", None)
    alone_env = {**bot_env, "TWIN_LOCAL": "1"}
    cli = [PY, "-m", "bot", *flags]
    times: dict[str, list[float]] = {k: [] for k in ("search/bot", "search/alone")}
    times |= {"forget/bot": [], "forget/alone": [], "draft/bot": [], "draft/alone": []}
    times |= {"ttft/bot": [], "ttft/alone": []}
    bot = start_bot(home, flags)
    try:
        timed([*cli, "search", QUERY], bot_env)  # the bot's first search loads its encoder
        for _ in range(rounds):
            times["search/bot"].append(timed([*cli, "search", QUERY], bot_env))
            times["search/alone"].append(timed([*cli, "search", QUERY], alone_env))
        for n in range(rounds):
            post = home.parent / f"forget-{n}.md"
            post.write_text(f"# Forget me {n}\n\nA post the bench adds and removes.\n")
            for how, env in (("bot", bot_env), ("alone", alone_env)):
                timed([*cli, "ingest", str(post)], env)
                times[f"forget/{how}"].append(timed([*cli, "forget", post.resolve().as_uri()], env))
        for n in range(draft_rounds):
            prompt = PROMPTS[n % len(PROMPTS)]
            for how, env in (("bot", bot_env), ("alone", alone_env)):
                started = time.perf_counter()
                done = subprocess.run(
                    [*cli, "draft", prompt], env=env, capture_output=True, text=True, cwd=ROOT
                )
                times[f"draft/{how}"].append(time.perf_counter() - started)
                first = re.search(r"first token after ([\d.]+) s", done.stderr)
                times[f"ttft/{how}"].append(float(first.group(1)) if first else float("nan"))
            print(f"  draft round {n + 1}/{draft_rounds} (load {load()})", file=sys.stderr)
    finally:
        bot.send_signal(signal.SIGINT)
        bot.wait(60)
    return times


def report_bot(times: dict[str, list[float]]) -> None:
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print("\n| command | through the bot, median s | alone (--local), median s | alone ÷ bot |")
    print("|---|---|---|---|")
    for name in ("search", "forget", "draft"):
        bot, alone = med[f"{name}/bot"], med[f"{name}/alone"]
        print(f"| `{name}` (wall) | {bot:.2f} | {alone:.2f} | {alone / bot:.1f} |")
    bot, alone = med["ttft/bot"], med["ttft/alone"]
    print(f"| draft: first token after (its own clock) | {bot:.2f} | {alone:.2f} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--draft-rounds", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--part", choices=["a", "b", "all"], default="all")
    args = parser.parse_args()
    flags = settings(args.new_tokens)
    print(f"load average before: {load()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "TWIN_HOME": str(home), "TWIN_LOCAL": "1"}
        timed([PY, "-m", "bot", *flags, "ingest", str(SAMPLE)], env)
        if args.part in ("a", "all"):
            wall, cpu = startup(home, args.rounds, flags)
            report_startup(wall, "Wall time (the issue's measure):")
            report_startup(cpu, "CPU time, user + system (what the wall time is on an idle box):")
        if args.part in ("b", "all"):
            report_bot(through_the_bot(home, args.rounds, args.draft_rounds, flags))
        shutil.rmtree(home, ignore_errors=True)
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
