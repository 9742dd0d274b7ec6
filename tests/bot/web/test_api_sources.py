"""The web API's sources against a real `serve`: a link added, listed with its title and
whose writing it is, recrawled incrementally and forgotten; a real platform export
uploaded through the CLI's importers; and every refusal a JSON error that keeps nothing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import aiohttp

from model.hf import HfGenerator
from tests.bot.web.api_client import Api, api_of, read_events
from tests.fixtures.exports import linkedin_members, write_zip
from tests.http_server import ThreadedServer
from tests.serve_support import running_serve


async def test_a_link_is_added_listed_recrawled_and_forgotten(
    smol: HfGenerator, threaded_server: ThreadedServer
) -> None:
    page = threaded_server.fixture_page("lemire.me.json.html")
    with running_serve(smol) as srv:
        async with api_of(srv) as api:
            status = await api.json("GET", "/api/status")
            assert status["first_run"] is True and status["documents"] == 0
            said = await api.events("POST", "/api/sources", {"url": page})
            assert api.said(said).startswith(f"✓ {page}: 1 new")
            [source] = await api.json("GET", "/api/sources")
            assert source["url"] == page and source["documents"] == 1
            assert source["status"] == "ok" and source["last_crawl_at"]
            assert source["title"] and source["title"] != page  # the post's own title
            assert source["owner"] in ("owner", "other") and source["last_error"] is None
            status = await api.json("GET", "/api/status")
            assert status["first_run"] is False and status["sources"] == 1

            # The incremental recrawl: the page is unchanged, nothing is fetched as new.
            one = api.said(await api.events("POST", "/api/sources/recrawl", {"url": page}))
            assert one.startswith(f"✓ {page}") and "unchanged" in one and "1 new" not in one
            every = api.said(await api.events("POST", "/api/sources/recrawl", {}))
            assert every.startswith(f"✓ {page}") and "unchanged" in every

            gone = "https://nowhere.example/post"
            for method, path in (("POST", "/api/sources/recrawl"), ("DELETE", "/api/sources")):
                reason = await api.error(method, path, {"url": gone}, status=404)
                assert reason.startswith(f"{gone}: not a known source")
            reason = await api.error("POST", "/api/sources", {"url": "/etc/passwd"}, status=400)
            assert "is not a link" in reason
            assert "url must be a string" in await api.error(
                "POST", "/api/sources", {"url": ["x"]}, status=400
            )

            said = await api.events("DELETE", "/api/sources", {"url": page})
            assert api.said(said).startswith(f"Forgot {page}: 1 documents")
            assert await api.json("GET", "/api/sources") == []


async def upload(api: Api, name: str, data: bytes, **fields: str) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await api.http.post("/api/sources/upload", data=form, headers=api.auth)


async def test_a_real_export_is_uploaded_and_bad_uploads_keep_nothing(
    smol: HfGenerator, tmp_path: Path, twin_home: Path
) -> None:
    export = write_zip(tmp_path / "Basic_LinkedInDataExport.zip", linkedin_members())
    uploads = twin_home / "uploads"
    with running_serve(smol, {"web.max_upload_mb": "1"}) as srv:
        async with api_of(srv) as api:
            async with await upload(api, export.name, export.read_bytes()) as r:
                assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"

                said = api.said(await read_events(r))
            assert said.startswith(f"Reading the upload…\n✓ {export.name}: ")
            assert f"{export.name}: 4 documents in it." in said
            [source] = await api.json("GET", "/api/sources")
            kept = uploads / export.name
            assert source["url"] == kept.resolve().as_uri()
            assert source["platform"] == "linkedin" and source["documents"] >= 2
            assert source["title"] == f"{export.name} (linkedin export)"
            assert source["owner_name"] == "Ann Lee"
            assert source["owner"] == "other"  # owner.name is Sam Rivera in these tests
            answer = await api.json(
                "PUT", "/api/settings", {"values": {"owner.names": ["Ann Lee"]}}
            )
            assert answer["saved"] is True
            [source] = await api.json("GET", "/api/sources")
            assert source["owner"] == "owner"  # the saved names apply at once
            assert source["owner_documents"] == source["documents"]
            said = api.said(
                await api.events("POST", "/api/sources/recrawl", {"url": source["url"]})
            )
            assert said.startswith(f"✓ {source['url']}") and "4 documents unchanged" in said

            before = sorted(p.name for p in uploads.iterdir())
            not_export = tmp_path / "photos.zip"
            with zipfile.ZipFile(not_export, "w") as zf:
                zf.writestr("holiday/readme.txt", "pictures")
            refusals = [
                ("photos.zip", not_export.read_bytes(), {}, 422, "LinkedIn"),
                ("broken.zip", b"not a zip at all", {}, 422, "broken.zip"),
                ("report.pdf", b"%PDF-1.4", {}, 422, "upload a platform export .zip or a"),
                ("empty.md", b"", {}, 422, "empty.md is empty"),
                ("big.md", b"word " * 300_000, {}, 413, "larger than web.max_upload_mb (1 MB)"),
                ("export.zip", export.read_bytes(), {"kind": "myspace"}, 400, "kind must be"),
                ("export.zip", export.read_bytes(), {"kind": "medium"}, 422, "export.zip"),
            ]
            for name, data, fields, status, reason in refusals:
                async with await upload(api, name, data, **fields) as r:
                    answer = await r.json()
                    assert r.status == status, (name, answer)
                    assert reason in answer["error"], (name, answer)
                    assert str(uploads) not in answer["error"]  # no server paths
            async with api.http.post(
                "/api/sources/upload", json={"file": "x"}, headers=api.auth
            ) as r:
                assert r.status == 400 and "multipart/form-data" in (await r.json())["error"]
            form = aiohttp.FormData()
            form.add_field("kind", "linkedin")
            form.add_field("other", b"x", filename="x.md")
            async with api.http.post("/api/sources/upload", data=form, headers=api.auth) as r:
                assert r.status == 400 and "field named file" in (await r.json())["error"]
            assert sorted(p.name for p in uploads.iterdir()) == before  # nothing kept
            assert len(await api.json("GET", "/api/sources")) == 1

            async with await upload(api, "My notes.md", b"# Notes\n\nShip small things.") as r:
                said = api.said(await read_events(r))
            assert "✓ " in said and (uploads / "My-notes.md").is_file()
            forgot = await api.events("DELETE", "/api/sources", {"url": source["url"]})
            assert api.said(forgot).startswith("Forgot")
            assert not kept.exists()  # forgetting an upload removes its file
