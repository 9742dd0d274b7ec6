"""What an incremental recrawl costs against the first ingest of the same sources.

Sources: an RSS feed of 100 full-text posts and a GitHub account of 4 repos (60 files)
served on loopback (the feed by aiohttp with ETags, GitHub by the test suite's REST
emulator), and a folder of 300 markdown files. Legs, in one process after a warm-up:
the first ingest (baseline), a recrawl with nothing changed, and a recrawl after 1 feed
post, 1 GitHub file and 3 local files changed. Reported: wall time, texts embedded and
HTTP requests per leg, as ratios to the first ingest. Target: an unchanged recrawl
≤ 0.1 × the first ingest's time and embeds nothing; a 1% change embeds only the change.

    python bench/recrawl_bench.py [--posts 100] [--files 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_bench import paragraphs
from tests.github_emulator import GitHubEmulator, Repo


class Feed:
    def __init__(self, posts: int) -> None:
        pool = paragraphs()
        self.posts = {
            i: "\n\n".join(pool[(i * 3 + k) % len(pool)] for k in range(3)) for i in range(posts)
        }
        self.version = 0
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        etag = f'"v{self.version}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        base = f"http://{request.host}"
        items = "".join(
            f"<item><title>Post {i}</title><link>{base}/p/{i}</link><guid>{i}</guid>"
            f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"
            for i, text in self.posts.items()
        )
        xml = (
            '<?xml version="1.0"?><rss version="2.0" xmlns:content='
            '"http://purl.org/rss/1.0/modules/content/"><channel><title>Bench</title>'
            f"<link>{base}/</link>{items}</channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml", headers={"ETag": etag})


class Counting:
    def __init__(self, real: Any) -> None:
        self.real, self.texts = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts += len(texts)
        return self.real.embed(texts)


def github_repos(emulator: GitHubEmulator) -> None:
    pool = paragraphs()
    for r in range(4):
        files: dict[str, bytes] = {"README.md": f"# Repo {r}\n\n{pool[r]}\n".encode()}
        for f in range(14):
            body = f"def f{f}():\n    return {f}  # {pool[(r * 14 + f) % len(pool)][:60]}\n"
            files[f"src/m{f}.py"] = body.encode()
        emulator.add_repo(Repo("bench", f"repo{r}", files))


async def main(posts: int, files: int) -> None:
    from bot.config import load_config
    from bot.twin import Twin
    from ingest.fetcher import Fetcher
    from ingest.pipeline import Ingestor
    from ingest.settings import FetchPolicy

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "posts"
        folder.mkdir()
        pool = paragraphs()
        for i in range(files):
            (folder / f"p{i:04d}.md").write_text(f"# Note {i}\n\n{pool[i % len(pool)]}\n")
        feed = Feed(posts)
        app = web.Application()
        app.router.add_get("/feed.xml", feed.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        github = GitHubEmulator()
        github_repos(github)
        await github.start()

        os.environ["TWIN_GITHUB__TOKEN"] = "t0ken"  # the emulator's; 5,000 requests an hour
        twin = Twin(load_config({"github.api_url": github.url()}, home=root / "home", env={}))
        embedder = Counting(twin.embedder)
        twin.embedder.embed(["warm-up"])
        inputs = [f"http://127.0.0.1:{port}/feed.xml", "https://github.com/bench", str(folder)]
        rows: list[tuple[str, float, int, int]] = []
        async with Fetcher(FetchPolicy(allow_private_networks=True)) as fetcher:
            ingestor = Ingestor(
                warehouse=twin.warehouse,
                index=twin.index,
                embedder=embedder,
                chunker=twin.chunker,
                registry=twin.registry,
                fetcher=fetcher,
            )

            async def leg(name: str, first: bool) -> None:
                embedder.texts, feed.requests, github.requests[:] = 0, 0, []
                start = time.perf_counter()
                results = await (
                    ingestor.ingest(inputs, allow_paths=True) if first else ingestor.recrawl()
                )
                elapsed = time.perf_counter() - start
                assert all(r.ok for r in results), [r.error for r in results]
                requests = feed.requests + len(github.requests)
                rows.append((name, elapsed, embedder.texts, requests))

            await leg("first ingest", True)
            await leg("recrawl, nothing changed", False)
            feed.posts[0] += " An edit."
            feed.version += 1
            github.push(github.repos["bench/repo0"], {"src/m0.py": b"def f0():\n    return 42\n"})
            for i in range(3):
                (folder / f"p{i:04d}.md").write_text(f"# Note {i}\n\nRewritten note {i}.\n")
            await leg("recrawl, 1% changed", False)
        await github.close()
        await runner.cleanup()
        twin.close()

    base = rows[0]
    print(f"sources: feed of {posts} posts, GitHub account of 4 repos, folder of {files} files")
    print("| leg | seconds | time | texts embedded | HTTP requests |")
    print("|---|---|---|---|---|")
    for name, seconds, texts, requests in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base[1]:.3f}× | {texts} | {requests} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.files))
