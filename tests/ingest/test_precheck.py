"""The early refusal says exactly what the pipeline says for the same input, and lets
through what the pipeline may take (a public name, a readable file, a known export)."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest

from bot.config import load_config
from bot.twin import Twin
from ingest.exports import EXPORT_KINDS
from ingest.precheck import refusal
from ingest.results import InputResult
from ingest.settings import ExportsSettings, FetchPolicy
from tests.fixtures.exports import LAYOUTS, write_zip


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("holiday/IMG_0001.txt", "not an export")
    return {
        "scheme": "ftp://example.com/post",
        "space": "http://exa mple.com/",
        "no-host": "https:///path",
        "loopback": "http://127.0.0.1:8080/admin",
        "localhost": "https://localhost/x",
        "sub-localhost": "http://api.localhost./x",
        "ipv6": "http://[::1]/x",
        "mapped": "http://[::ffff:10.0.0.1]/x",
        "metadata": "http://169.254.169.254/latest/meta-data",
        "private": "http://192.168.1.1/",
        "missing": str(tmp_path / "missing.md"),
        "empty-folder": str(empty),
        "pdf": str(tmp_path / "notes.pdf"),
        "broken-zip": str(tmp_path / "broken.zip"),
        "not-an-export": str(tmp_path / "photos.zip"),
    }


def test_each_refusal_is_the_pipelines_own(twin_home: Path, inputs: dict[str, str]) -> None:
    config = load_config({})
    early = {
        name: refusal(raw, policy=config.ingest, exports=config.exports)
        for name, raw in inputs.items()
    }
    assert all(why is not None for why in early.values()), early

    async def pipeline() -> list[InputResult]:
        twin = Twin(config)
        try:
            async with twin.ingestor() as ingestor:
                return await ingestor.ingest(list(inputs.values()), allow_paths=True)
        finally:
            twin.close()

    results = asyncio.run(pipeline())
    assert len(results) == len(inputs) and not any(r.ok for r in results)
    said = {r.error for r in results}
    for name, why in early.items():
        assert why in said, f"{name}: early {why!r}, the pipeline said {sorted(map(str, said))}"


def test_what_the_pipeline_may_take_goes_through(tmp_path: Path) -> None:
    policy, exports = FetchPolicy(), ExportsSettings()
    post = tmp_path / "post.md"
    post.write_text("# A post\n\nSome text.\n")
    assert refusal("https://example.invalid/post", policy=policy, exports=exports) is None
    assert refusal(str(post), policy=policy, exports=exports) is None
    assert refusal(str(tmp_path), policy=policy, exports=exports) is None
    loopback = FetchPolicy(allowed_networks=("127.0.0.1/32",))
    assert refusal("http://127.0.0.1:8080/feed", policy=loopback, exports=exports) is None
    allowed = FetchPolicy(allow_private_networks=True)
    assert refusal("http://192.168.1.1/", policy=allowed, exports=exports) is None


@pytest.mark.parametrize("kind", EXPORT_KINDS)
def test_exports_are_checked_by_layout_and_the_kind_asked_for(tmp_path: Path, kind: str) -> None:
    policy, exports = FetchPolicy(), ExportsSettings()
    zipped = str(write_zip(tmp_path / f"{kind}.zip", LAYOUTS[kind]()))
    assert refusal(zipped, policy=policy, exports=exports) is None
    for other in EXPORT_KINDS:
        hinted = refusal(zipped, policy=policy, exports=exports, hints={"kind": other})
        assert (hinted is None) == (other == kind), (other, hinted)
    # A source read before remembers the kind it was read as: the early check asks for it.
    other = next(k for k in EXPORT_KINDS if k != kind)
    remembered = refusal(zipped, policy=policy, exports=exports, stored=lambda _: {"kind": other})
    assert remembered is not None and "data export" in remembered
