"""The llamacpp backend on the real bundled SmolLM2 GGUF: streaming, stop strings,
cancellation, concurrency through the worker, exact token counts, seeds, start-up
failures, and when it is chosen by default."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from model.backends import open_generator, with_backend
from model.generator import Finished, GenerationParams, Message, TextDelta
from model.hf import default_model_source
from model.llamacpp import (
    LlamaCppGenerator,
    context_options,
    decode_threads,
    flash_attention_fixed,
    llama_cpp_available,
)
from model.settings import ModelSettings
from model.worker import ModelWorker

pytestmark = pytest.mark.skipif(
    not llama_cpp_available(), reason="llama-cpp-python is not installed (make builds it)"
)

MESSAGES = [
    Message("system", "You write short, plain posts."),
    Message("user", "Write two sentences about why SQLite is enough for small projects."),
]
GREEDY = GenerationParams(max_new_tokens=48, temperature=0.0)


def bundled_gguf() -> Path:
    source = default_model_source()
    assert source.gguf_file
    return Path(source.location) / source.gguf_file


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaCppGenerator]:
    generator = LlamaCppGenerator(bundled_gguf(), max_seq_len=2048)
    yield generator
    asyncio.run(generator.aclose())


async def collect(stream: AsyncIterator[object]) -> tuple[str, Finished]:
    text, finished = [], None
    async for event in stream:
        if isinstance(event, TextDelta):
            assert finished is None, "text after Finished"
            text.append(event.text)
        else:
            assert isinstance(event, Finished)
            finished = event
    assert finished is not None
    return "".join(text), finished


async def test_it_streams_deltas_then_one_finished(llama: LlamaCppGenerator) -> None:
    deltas = [e async for e in llama.stream(MESSAGES, GREEDY)]
    texts = [e for e in deltas if isinstance(e, TextDelta)]
    assert len(texts) > 3  # streamed, not one block
    *_, last = deltas
    assert isinstance(last, Finished) and last.finish_reason in ("stop", "length")
    assert 0 < last.completion_tokens <= 48
    assert last.time_to_first_token > 0 and last.tokens_per_second > 0
    text, again = await collect(llama.stream(MESSAGES, GREEDY))
    assert text == "".join(t.text for t in texts)  # greedy is repeatable
    assert again.completion_tokens == last.completion_tokens


async def test_prompt_tokens_are_counted_as_the_library_counts_them(
    llama: LlamaCppGenerator,
) -> None:
    import llama_cpp

    reference = llama_cpp.Llama(model_path=str(bundled_gguf()), n_ctx=2048, verbose=False)
    try:
        for messages in (MESSAGES, [Message("user", "héllo wörld — ünïcode 🚀 " * 20)]):
            usage = reference.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=1,
                temperature=0.0,
            )["usage"]
            assert llama.count_tokens(messages) == usage["prompt_tokens"]
            _, finished = await collect(llama.stream(messages, replace(GREEDY, max_new_tokens=2)))
            assert finished.prompt_tokens == usage["prompt_tokens"]
    finally:
        reference.close()
    assert "<|im_start|>assistant" in llama.render(MESSAGES)  # the GGUF's own template


async def test_the_reply_stops_before_a_stop_string(llama: LlamaCppGenerator) -> None:
    full, _ = await collect(llama.stream(MESSAGES, GREEDY))
    words = full.split()
    assert len(words) > 6
    stop = " ".join(words[3:5])
    text, finished = await collect(llama.stream(MESSAGES, replace(GREEDY, stop=(stop,))))
    assert finished.finish_reason == "stop"
    assert stop not in text and full.startswith(text) and text.strip()
    assert full[len(text) :].startswith(stop)


async def test_the_length_limit_ends_with_length(llama: LlamaCppGenerator) -> None:
    text, finished = await collect(llama.stream(MESSAGES, replace(GREEDY, max_new_tokens=5)))
    assert finished.finish_reason == "length" and finished.completion_tokens == 5
    assert text


async def test_cancelling_stops_decoding_within_a_token_or_two(llama: LlamaCppGenerator) -> None:
    params = replace(GREEDY, max_new_tokens=400)
    first = asyncio.Event()
    at_cancel: list[int] = []

    async def reader() -> None:
        async for event in llama.stream(MESSAGES, params):
            if isinstance(event, TextDelta) and not first.is_set():
                first.set()

    task = asyncio.create_task(reader())
    await first.wait()
    at_cancel.append(llama.generated_tokens)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The decoding thread is free again: a new job runs and ends normally.
    _, finished = await collect(llama.stream(MESSAGES, replace(GREEDY, max_new_tokens=2)))
    assert finished.completion_tokens == 2
    after_cancel = llama.generated_tokens - 2 - at_cancel[0]
    assert 0 <= after_cancel <= 2, f"{after_cancel} tokens were decoded after the cancel"


async def test_two_drafts_at_once_through_the_worker(llama: LlamaCppGenerator) -> None:
    worker = ModelWorker(llama, timeout=120, max_new_tokens=64)
    other = [Message("user", "Name three uses of a notebook.")]
    alone_a, _ = await collect(llama.stream(MESSAGES, GREEDY))
    alone_b, _ = await collect(llama.stream(other, GREEDY))
    together = await asyncio.gather(
        collect(worker.stream("alice", MESSAGES, GREEDY)),
        collect(worker.stream("bob", other, GREEDY)),
    )
    assert [text for text, _ in together] == [alone_a, alone_b]


async def test_the_same_seed_gives_the_same_sample(llama: LlamaCppGenerator) -> None:
    sampled = GenerationParams(max_new_tokens=24, temperature=0.9, top_p=0.95, seed=7)
    one, _ = await collect(llama.stream(MESSAGES, sampled))
    two, _ = await collect(llama.stream(MESSAGES, sampled))
    other, _ = await collect(llama.stream(MESSAGES, replace(sampled, seed=8)))
    assert one == two
    assert one != other


def test_start_up_failures_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"model\.path .*missing\.gguf does not exist"):
        LlamaCppGenerator(tmp_path / "missing.gguf")
    fake = tmp_path / "notes.gguf"
    fake.write_text("not a model")
    with pytest.raises(ConfigError, match=r"is not a GGUF file"):
        LlamaCppGenerator(fake)
    with pytest.raises(ConfigError, match=r"model\.adapter .* is a GGUF model, not an adapter"):
        LlamaCppGenerator(bundled_gguf(), adapter=bundled_gguf())
    folder = tmp_path / "hf-folder"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"is not a GGUF file; the llamacpp backend"):
        asyncio.run(
            open_generator(ModelSettings(backend="llamacpp", path=str(folder)), cache_dir=tmp_path)
        )
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"needs llama-cpp-python: run `make install`"):
        LlamaCppGenerator(bundled_gguf())


def test_llamacpp_is_the_default_for_a_gguf_when_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert with_backend(ModelSettings()).backend == "llamacpp"  # the bundled GGUF
    assert with_backend(ModelSettings(path="/models/m.gguf")).backend == "llamacpp"
    assert with_backend(ModelSettings(path=str(tmp_path))).backend == "hf"  # an HF folder
    assert with_backend(ModelSettings(backend="hf")).backend == "hf"  # explicit wins
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name)
    )
    assert with_backend(ModelSettings()).backend == "hf"  # not installed: hf


async def test_the_configured_seed_makes_sampled_drafts_repeatable(tmp_path: Path) -> None:
    settings = ModelSettings(max_seq_len=1024, seed=11)
    sampled = GenerationParams(max_new_tokens=24, temperature=0.9, top_p=0.95)  # no seed
    texts = []
    for _ in range(2):
        generator = await open_generator(settings, cache_dir=tmp_path)
        try:
            texts.append((await collect(generator.stream(MESSAGES, sampled)))[0])
        finally:
            await generator.aclose()
    assert texts[0] == texts[1] and texts[0]


async def test_the_configured_default_model_opens_on_llamacpp(tmp_path: Path) -> None:
    generator = await open_generator(ModelSettings(max_seq_len=1024), cache_dir=tmp_path)
    try:
        assert isinstance(generator, LlamaCppGenerator)
        assert generator.backend == "llamacpp" and generator.model_version == "base"
        assert generator.model_id.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
        assert generator.context_length == 1024
    finally:
        await generator.aclose()


def test_it_decodes_on_every_core_by_default(llama: LlamaCppGenerator) -> None:
    """model.threads 0: every core up to 8 (llama-cpp-python's own default is half)."""
    assert llama.threads == decode_threads() == max(1, min(os.cpu_count() or 1, 8))
    assert llama._llama.context_params.n_threads == llama.threads


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_the_build_runs_without_openmp(tmp_path: Path) -> None:
    """The Makefile builds llama.cpp without OpenMP: torch brings its own libgomp.so.1,
    and one OpenMP runtime shared by both throttles llama.cpp's threads (3x slower decoding
    beside the embedder; bench/RESULTS.md). Loading a model maps no libgomp."""
    script = (
        "import llama_cpp, sys\n"
        f"llama_cpp.Llama(model_path={str(bundled_gguf())!r}, n_ctx=256, verbose=False)\n"
        "maps = open('/proc/self/maps').read()\n"
        "print('libggml-cpu' in maps, 'libgomp' in maps)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"], (
        "llama.cpp was built with OpenMP: make llamacpp"
    )


def cpu_flags() -> set[str]:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in info.splitlines() if line.startswith("flags") for flag in line.split()}


@pytest.mark.skipif("amx_int8" not in cpu_flags(), reason="this CPU has no AMX")
def test_a_long_prompt_runs_on_the_amx_kernels_where_the_cpu_has_them() -> None:
    """On a CPU with AMX the build uses llama.cpp's AMX kernels (about twice as fast:
    bench/RESULTS.md). As released they crashed the process on the first prompt (SIGSEGV:
    ldtilecfg on a tile configuration the optimiser had not written);
    patches/llama-cpp-python-amx-tile-config.patch fixes that. In a child process, so a
    crash fails this test instead of ending the run."""
    script = (
        "import llama_cpp\n"
        "print(llama_cpp.llama_print_system_info().decode(), flush=True)\n"
        f"llama = llama_cpp.Llama(model_path={str(bundled_gguf())!r}, n_ctx=1024,\n"
        "                         n_threads=2, verbose=True)\n"
        "tokens = llama.tokenize(b'SQLite is a good first warehouse. ' * 60)[:300]\n"
        "out = llama.create_completion(tokens, max_tokens=8, temperature=0.0)\n"
        "print('decoded', out['usage']['completion_tokens'], flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "AMX_INT8 = 1" in done.stdout, "llama.cpp was built without AMX: make llamacpp"
    assert "AMX model buffer size" in done.stderr, "the weights were not placed for AMX"
    assert "decoded 8" in done.stdout


def test_the_backends_cache_keeps_the_models_perplexity(llama: LlamaCppGenerator) -> None:
    """The backend's context (context_options: flash attention over an F16 cache with our
    fix in the build; without it Q8_0 keys for a quantized model) predicts the sample posts
    as well as llama.cpp's plain F16 cache without flash attention: within 1 % (flash
    attention 35.98 against 36.21; Q8_0 keys 36.08; Q4_1 keys, 37.00, and Q4_0, 37.75, fail
    it). A float model keeps F16 keys (tests/training/test_gguf_export.py holds its drafts
    to hf's, token for token)."""
    import llama_cpp
    import numpy as np

    options = context_options(quantized=True)
    made = llama._llama.context_params
    if options.get("flash_attn"):
        assert made.flash_attn_type == llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    else:
        assert made.type_k == options["type_k"]  # the bundled Q4_1

    note = Path(__file__).resolve().parents[2] / "sample"
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(note.glob("*.md")))

    def perplexity(**options: Any) -> float:
        llama = llama_cpp.Llama(
            model_path=str(bundled_gguf()), n_ctx=1024, logits_all=True, verbose=False, **options
        )
        tokens = llama.tokenize(text.encode())[:800]
        llama.eval(tokens)
        logits = np.asarray(llama.scores[: len(tokens)], dtype=np.float64)
        llama.close()
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        picked = logp[np.arange(len(tokens) - 1), tokens[1:]]
        return float(np.exp(-picked.mean()))

    full = perplexity(type_k=llama_cpp.GGML_TYPE_F16)
    ours = perplexity(**options)
    assert abs(ours - full) / full < 0.01, (ours, full)


def test_flash_attention_decodes_what_plain_attention_does() -> None:
    """make llamacpp builds llama.cpp with our flash-attention fix, and the backend turns
    flash attention on with it. Decoding then runs the fix's kernel (the query heads that
    share a key/value head together, a block of cache positions at a time, F32
    accumulators). After a short prompt (most of the cache's 256-cell block masked) and
    after a 1,300-token one (the cache split between the threads), fed the tokens llama.cpp
    picks without flash attention, it gives the same logits within rounding: at most 0.97
    and 1.31 apart here, 0.15 and 0.19 on average (released llama.cpp's flash attention:
    0.95 and 1.71), and the same top token wherever that one leads by 0.1 or more (they part
    only on near ties, 0.014 to 0.065 apart). A kernel mixing up heads or positions is tens
    apart."""
    import llama_cpp
    import numpy as np

    assert flash_attention_fixed(), "llama.cpp was built without our flash-attention fix"
    assert context_options(quantized=True).get("flash_attn")
    notes = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "simonw_til").glob("*.md"))
    long_text = "\n".join(p.read_text(encoding="utf-8") for p in notes)

    def decode(text: str, limit: int, feed: list[int], *, flash: bool) -> list[Any]:
        """The logits before each of 24 tokens: the greedy pick when `feed` is empty
        (appended to it), else feed's tokens."""
        model = llama_cpp.Llama(
            model_path=str(bundled_gguf()),
            n_ctx=2048,
            n_threads=2,
            n_ubatch=256,
            flash_attn=flash,
            verbose=False,
        )
        model.eval(model.tokenize(text.encode())[:limit])
        greedy, steps = not feed, []
        for i in range(24):
            # the context's own logits (scores keeps none without logits_all)
            logits = np.ctypeslib.as_array(model._ctx.get_logits(), shape=(model.n_vocab(),))
            steps.append(logits.copy())
            if greedy:
                feed.append(int(np.argmax(logits)))
            model.eval([feed[i]])
        model.close()
        return steps

    for text, limit in ((MESSAGES[1].content, 38), (long_text, 1300)):
        tokens: list[int] = []
        plain = decode(text, limit, tokens, flash=False)
        flash = decode(text, limit, tokens, flash=True)
        apart = [float(np.abs(f - p).max()) for f, p in zip(flash, plain, strict=True)]
        assert max(apart) < 2.0, (limit, apart)
        for step, (f, p) in enumerate(zip(flash, plain, strict=True)):
            second, first = np.sort(p)[-2:]
            if first - second >= 0.1:
                assert np.argmax(f) == np.argmax(p), (limit, step, first - second)


async def test_a_build_without_the_fix_keeps_flash_attention_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Released llama.cpp's flash attention decodes 2.6x slower after a long prompt, so a
    build without our fix's mark (a LLAMA_CPP_SPEC the patch no longer applies to) keeps
    it off, with Q8_0 keys for a quantized model and F16 for a float one."""
    import llama_cpp

    monkeypatch.setitem(sys.modules, "llama_cpp.llm_twin_flash_attn", None)  # no mark
    assert not flash_attention_fixed()
    assert context_options(quantized=True) == {"n_ubatch": 256, "type_k": llama_cpp.GGML_TYPE_Q8_0}
    assert context_options(quantized=False)["type_k"] == llama_cpp.GGML_TYPE_F16
    generator = LlamaCppGenerator(bundled_gguf(), max_seq_len=512)
    try:
        made = generator._llama.context_params
        assert made.flash_attn_type == llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        assert made.type_k == llama_cpp.GGML_TYPE_Q8_0
        text, finished = await collect(generator.stream(MESSAGES, GREEDY))
        assert text and finished.completion_tokens > 0
    finally:
        await generator.aclose()


@pytest.mark.parametrize(
    ("built_for", "on"),
    [
        ("CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | DOTPROD = 1 | REPACK = 1 | ", False),
        ("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 0 | F16C = 1 | FMA = 1 | ", False),
        ("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | REPACK = 1 | ", True),
        ("CPU : AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 1 | AVX512_VNNI = 1 | ", True),
    ],
)
def test_flash_attention_is_on_only_where_the_fix_runs_its_vector_code(
    monkeypatch: pytest.MonkeyPatch, built_for: str, on: bool
) -> None:
    """The fix's kernel has AVX-512 and AVX2 code; a build for another CPU (ARM) would run
    its plain loops, unmeasured, so there flash attention stays off."""
    import llama_cpp

    assert flash_attention_fixed()  # this machine's build (AVX-512)
    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: built_for.encode())
    assert flash_attention_fixed() is on
    assert bool(context_options(quantized=True).get("flash_attn")) is on


async def test_a_shared_prompt_start_is_read_once_in_whole_steps() -> None:
    """Drafts share their system brief: the next prompt reads only what follows the part
    it shares, cut to whole 256-token steps (a prompt read from an unaligned position is
    slower), and writes exactly what a fresh model writes."""
    brief = "You write as Sam Rivera: short, concrete, first person, no hashtags. " * 45
    first = [Message("system", brief), Message("user", "Write about SQLite.")]
    second = [Message("system", brief), Message("user", "Write about on-call notes.")]
    unrelated = [Message("system", "Plain posts."), Message("user", "Write about tests.")]
    params = replace(GREEDY, max_new_tokens=16)
    generator = LlamaCppGenerator(bundled_gguf(), max_seq_len=2048)
    fresh = LlamaCppGenerator(bundled_gguf(), max_seq_len=2048)
    try:
        one, two = generator.encode(first), generator.encode(second)
        shared = next(i for i, (a, b) in enumerate(zip(one, two, strict=False)) if a != b)
        assert shared > 512
        await collect(generator.stream(first, params))
        assert generator.prompt_tokens_read == len(one)

        before = generator.prompt_tokens_read
        text, _ = await collect(generator.stream(second, params))
        read = generator.prompt_tokens_read - before
        assert read == len(two) - shared // 256 * 256
        assert text == (await collect(fresh.stream(second, params)))[0]

        before = generator.prompt_tokens_read
        await collect(generator.stream(unrelated, params))
        assert generator.prompt_tokens_read - before == len(generator.encode(unrelated))
    finally:
        await generator.aclose()
        await fresh.aclose()
