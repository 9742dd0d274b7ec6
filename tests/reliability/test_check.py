"""`llm-twin check [--repair]`: one line per store, what needs attention said with what to
do, and the repairs going the twin's own ways (mend from the warehouse, reindex)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lancedb
import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import load_config
from bot.schedules.state import SchedulerState
from bot.twin import Twin
from retrieval.index import open_configured_index

SAMPLE = Path(__file__).resolve().parents[2] / "sample"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--local", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def twin(twin_home: Path) -> Iterator[Twin]:
    """The sample ingested by the CLI; a twin on the same home, opened when asked."""
    code, output = run("ingest", str(SAMPLE))
    assert code == 0, output
    twin = Twin(load_config())
    yield twin
    twin.close()


def lines(output: str) -> dict[str, str]:
    """Each store's line (and its ✗ line after it, when there is one)."""
    found: dict[str, str] = {}
    last = ""
    for line in output.splitlines():
        store = line.split(" ", 1)[0]
        if store in ("home", "warehouse", "index", "schedules", "runs"):
            found[store] = line
            last = store
        elif line.strip().startswith("✗"):
            found[last] += "\n" + line.strip()
    return found


def test_a_healthy_home_is_reported_store_by_store(twin: Twin, twin_home: Path) -> None:
    SchedulerState(twin.warehouse.engine, twin.warehouse.writer).acquire("pid 1 on elsewhere")
    code, output = run("check")
    assert code == 0, output
    stores = lines(output)
    assert stores["home"].startswith(f"home       {twin_home.resolve()} (")
    assert " free of " in stores["home"]
    assert "6 documents, 1 source, 0 drafts" in stores["warehouse"]
    assert "the last " in stores["warehouse"] and "migrations" in stores["warehouse"]
    assert "6 documents, 6 chunks: in step with the warehouse" in stores["index"]
    assert "built with sentence-transformers/all-MiniLM-L6-v2 (384 dimensions)" in stores["index"]
    assert "run by pid 1 on elsewhere (lease renewed" in stores["schedules"]
    assert "0 training runs; drafting with the base model" in stores["runs"]
    assert output.rstrip().endswith("all stores in step")


def test_a_lost_table_is_reported_and_repaired_from_the_warehouse(twin: Twin) -> None:
    lancedb.connect(twin.config.index_path).drop_table("chunks")
    code, output = run("check")
    assert code == 1
    index = lines(output)["index"]
    assert "0 documents, 0 chunks: 6 warehouse documents without chunks" in index
    assert "✗ it is out of step with the warehouse" in index
    assert "1 store needs attention; `llm-twin check --repair` mends it" in output

    code, output = run("check", "--repair")
    assert code == 0, output
    assert "repaired: index mended: 6 documents re-indexed from the warehouse" in output
    assert output.rstrip().endswith("all stores in step")
    code, output = run("check")
    assert code == 0 and "6 documents, 6 chunks: in step" in lines(output)["index"]


def test_an_index_without_its_manifest_is_rebuilt_by_repair(twin: Twin) -> None:
    (twin.config.index_path / "manifest.json").unlink()
    code, output = run("check")
    assert code == 1
    assert "cannot be opened" in lines(output)["index"]
    assert "has no manifest.json" in lines(output)["index"]
    code, output = run("check", "--repair")
    assert code == 0, output
    assert "repaired: index rebuilt from the warehouse: 6 chunks" in output


def test_a_trained_run_without_its_adapter_is_named(twin: Twin, tmp_path: Path) -> None:
    adapter = tmp_path / "gone-adapter"
    run_ = twin.models.start(
        base_model="base", dataset_hash="h", dataset_folder=str(tmp_path), config={}
    )
    twin.models.add_paths(run_.id, adapter=str(adapter))
    twin.models.finish(run_.id)
    code, output = run("check")
    assert code == 1
    runs = lines(output)["runs"]
    assert "1 training run (1 trained)" in runs
    assert f"the adapter folder of 1 trained run is missing: {run_.id} ({adapter})" in runs
    assert "`llm-twin check --repair`" not in output  # nothing it could mend
    adapter.mkdir()
    assert run("check")[0] == 0


def test_orphan_chunks_are_reported_and_dropped(twin: Twin) -> None:
    from tests.reliability.test_healing import ghost_chunk

    index = open_configured_index(twin.config.index, twin.manifest(), path=twin.config.index_path)
    index.replace_documents({"ghost": [ghost_chunk(twin)]})  # (twin.index would mend it)
    code, output = run("check")
    assert code == 1 and "chunks of 1 removed document" in lines(output)["index"]
    code, output = run("check", "--repair")
    assert code == 0, output
    assert "the chunks of 1 removed document dropped" in output
    assert "ghost" not in index.document_ids()
