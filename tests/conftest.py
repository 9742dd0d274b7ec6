from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.http_server import LocalServer, ThreadedServer

if TYPE_CHECKING:
    from model.hf import HfGenerator


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for dequantized GGUFs for the whole session (it takes ~20 s per model)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def smol(model_cache: Path) -> Iterator[HfGenerator]:
    """The real SmolLM2-135M-Instruct GGUF, loaded once per session."""
    from model.hf import HfGenerator, default_model_source

    generator = HfGenerator(default_model_source(), cache_dir=model_cache)
    yield generator
    generator._executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def smol_dir(smol: HfGenerator, model_cache: Path) -> Path:
    """SmolLM2-135M-Instruct as a plain HF folder (the dequantized GGUF `smol` loaded)."""
    from model.gguf import dequantized_folder
    from model.hf import default_model_source

    source = default_model_source()
    assert source.gguf_file is not None
    return dequantized_folder(source.location, source.gguf_file, model_cache)


@pytest.fixture(scope="session")
def tiny_model_dir(smol: HfGenerator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer, saved as an HF folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smol.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=smol.tokenizer.eos_token_id,
        bos_token_id=smol.tokenizer.bos_token_id,
    )
    target = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(target)
    smol.tokenizer.save_pretrained(target)
    return target


@pytest.fixture(autouse=True)
def twin_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Iterator[Path]:
    """No test touches a real state dir or a real config file."""
    home = tmp_path / "twin-home"
    monkeypatch.setenv("TWIN_HOME", str(home))
    monkeypatch.delenv("TWIN_CONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith("TWIN_") and "__" in name:
            monkeypatch.delenv(name)
    monkeypatch.setenv("TWIN_MODEL__CACHE_DIR", str(model_cache))
    yield home


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    srv = LocalServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
def threaded_server() -> Iterator[ThreadedServer]:
    srv = ThreadedServer()
    srv.start_in_thread()
    try:
        yield srv
    finally:
        srv.stop()


# --- warehouse databases: SQLite and a throwaway PostgreSQL ---------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL superuser URL: `TWIN_TEST_POSTGRES_URL` if set, else a cluster started
    for this session (and removed after it). Skips when none can be had, unless
    `TWIN_REQUIRE_POSTGRES=1` (CI), which turns that into a failure."""
    from tests.postgres_server import PostgresServer, PostgresUnavailable

    def unavailable(reason: str) -> NoReturn:
        if os.environ.get("TWIN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (TWIN_REQUIRE_POSTGRES=1): {reason}")
        pytest.skip(f"no PostgreSQL server: {reason}")

    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed; pip install -e '.[postgres]'")
    if external := os.environ.get("TWIN_TEST_POSTGRES_URL"):
        yield external
        return
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    try:
        server.start()
    except PostgresUnavailable as exc:
        server.stop()
        unavailable(str(exc))
    atexit.register(server.stop)  # also when the session is torn down hard
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test: a new SQLite file, or on PostgreSQL a new schema
    that the URL puts first on the search path (dropped afterwards). A schema costs a
    millisecond where CREATE DATABASE copies a template (a quarter second on a busy box)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}"
        return
    import psycopg
    from psycopg import sql
    from sqlalchemy import make_url

    admin = make_url(request.getfixturevalue("postgres_admin_url")).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    schema = f"twin_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    options = f"{admin.query.get('options', '')} -csearch_path={schema}".strip()
    try:
        yield admin.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# --- the fast lane: `make test-fast` runs `pytest -m "not slow"` ----------------------------

# A test that uses any of these fixtures, directly or through another fixture, is `slow`: each
# loads a real model, trains or quantizes one, or starts a server or browser process.
SLOW_FIXTURES = frozenset(
    {
        "smol",  # SmolLM2-135M dequantized from its GGUF (~20 s once), then real generation
        "smol_dir",  # the same, as an HF folder
        "tiny_model_dir",  # a random Llama built on smol's tokenizer
        "adapter_dir",  # a LoRA built and merged on it (training/test_export.py)
        "trained_adapter",  # a LoRA trained for a few steps (training/test_evaluate.py)
        "embedder",  # a fresh sentence-transformers embedder (training/test_evaluate.py)
        "twin",  # a real Twin whose ingest embeds with the real all-MiniLM-L6-v2 embedder
        "exl2_model",  # an EXL2 quantization (model/test_exl2.py)
        "postgres_admin_url",  # starts a PostgreSQL cluster
        "browser",  # starts headless Chromium (e2e/test_web_page.py)
    }
)
# Markers that imply `slow`: `postgres` starts a PostgreSQL server (the warehouse_url[postgres]
# leg asks for it at run time, so the fixture rule cannot see it); `gpu` loads real models.
SLOW_MARKERS = ("postgres", "gpu")
# Everything under these folders is `slow`: the CLI end to end, `serve`, the web page in
# Chromium, retrieval quality over the sample with the real embedder.
SLOW_FOLDERS = ("tests/e2e/",)
# Slow (> 1 s) for a reason no fixture shows, measured with `pytest --durations`.
SLOW_TESTS = (
    # 60 rounds of real embedding against a thread that tokenizes (~40 s alone)
    "tests/retrieval/test_embedder.py::",
    # starts a Python child process that imports the trainer's stack (~10 s)
    "tests/bot/test_schedules.py::test_enough_new_writing_retrains_in_a_child_and_reports",
    # runs the CLI, whose ingest embeds with the real embedder
    "tests/bot/test_schedules.py::test_the_cli_lists_pauses_and_runs_jobs",
    # the Twin's manifest asks the real embedder its dimension, which loads it (~5 s)
    "tests/core/test_plugins.py::test_a_third_party_index_and_generator_are_chosen_by_config",
)


def is_slow(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return (
        any(name in SLOW_FIXTURES for name in fixtures)
        or any(item.get_closest_marker(name) for name in SLOW_MARKERS)
        or item.nodeid.startswith(SLOW_FOLDERS)
        or item.nodeid.startswith(SLOW_TESTS)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks `slow` what `is_slow` says (see above), so `-m "not slow"` is the fast lane.
    `gpu` tests run only where CUDA is visible; elsewhere they are skipped, saying so."""
    for item in items:
        if is_slow(item) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marker gpu)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


_TRAIL = os.environ.get("TWIN_TEST_TRAIL")


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """With TWIN_TEST_TRAIL set (CI sets it), each test's id is written there as it starts,
    so a crash that kills pytest outright (a native abort) can still be pinned to a test."""
    if _TRAIL:
        with open(_TRAIL, "a", encoding="utf-8") as trail:
            trail.write(nodeid + "\n")
