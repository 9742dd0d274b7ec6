"""The `llamacpp` backend: llama.cpp (through llama-cpp-python) on a GGUF file.

The fast path on a CPU: the same GGUF decodes several times faster than transformers on
it (bench/llamacpp_bench.py). The chat template comes from the GGUF's own metadata, a
LoRA adapter in GGUF form (`llm-twin export gguf` writes one) is applied at load, and
decoding runs on one worker thread, token by token, so a cancelled draft stops within a
token and the event loop never waits on it. Prompt tokens are counted with the model's own
tokenizer, exactly as they are fed to it.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.errors import ConfigError
from model.generator import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationParams,
    Message,
    TextDelta,
    ThreadedJob,
    render_transcript,
)
from model.gguf import check_adapter_fits, check_gguf, has_quantized_weights
from model.hf import resolve_model_source
from model.settings import ModelSettings

INSTALL_HINT = (
    "the llamacpp backend needs llama-cpp-python: run `make install` (it builds it), or "
    'pip install llama-cpp-python; or set model.backend = "hf"'
)


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def decode_threads() -> int:
    """Decoding threads when model.threads is 0: every core, up to 8 (more buys little for
    the models a CPU runs). llama-cpp-python's own default, half the cores, decoded at
    ~75 tokens/s on 2 cores against ~120 with both (bench/llamacpp_bench.py)."""
    return max(1, min(os.cpu_count() or 1, 8))


# llama.cpp attends over its cache in whole blocks of 256 cells; prompts are read in steps
# of the same size, so each step ends on a block's end (see _reuse_cached_prefix).
CACHE_STEP = 256


def flash_attention_fixed() -> bool:
    """Whether llama-cpp-python carries our fix to flash attention on the CPU and runs its
    vector code here: built with patches/llama-cpp-python-flash-attn-cpu.patch (`make
    llamacpp` applies it, and it marks the build with the module
    llama_cpp.llm_twin_flash_attn) for a CPU with AVX-512, or AVX2 with F16C and FMA.
    Elsewhere (an ARM CPU, say) the fix's kernel runs plain loops, unmeasured, so flash
    attention stays off there."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp.llm_twin_flash_attn") is None:
        return False
    import llama_cpp

    # "CPU : SSE3 = 1 | AVX2 = 1 | … |": what this build of llama.cpp was compiled for
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    built_for = {
        name.strip().split()[-1]
        for name, _, value in (part.partition("=") for part in info.split("|"))
        if value.strip() == "1"
    }
    return "AVX512" in built_for or {"AVX2", "F16C", "FMA"} <= built_for


def context_options(*, quantized: bool) -> dict[str, Any]:
    """How the backend sets up llama.cpp's context beyond size and threads (the bench's
    plain llama-cpp-python leg uses the same):
    - prompts are read CACHE_STEP (256) tokens a step, not 512: a 1,500-token prompt 7 %
      faster (attention over a longer step costs more than the step saves);
    - with our flash-attention fix in the build, flash attention, over an F16 cache (the
      fix's kernels read F16): a 1,500-token prompt is read a third faster than without it,
      and decoding after it 28 % faster (bench/RESULTS.md); drafts on a float model still
      equal hf's. As released, flash attention on a CPU decodes 2.6x slower after a long
      prompt, so a build without the fix leaves it off;
    - without it, a `quantized` model caches its attention keys as Q8_0 (values stay F16):
      decoding after a 1,500-token prompt reads half the key bytes, 8 % faster. A float
      model keeps F16 keys: its drafts stay exactly hf's."""
    import llama_cpp

    if flash_attention_fixed():
        return {"n_ubatch": CACHE_STEP, "flash_attn": True}
    keys = llama_cpp.GGML_TYPE_Q8_0 if quantized else llama_cpp.GGML_TYPE_F16
    return {"n_ubatch": CACHE_STEP, "type_k": keys}


@dataclass(eq=False)
class _Job(ThreadedJob):
    params: GenerationParams
    prompt_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)


class LlamaCppGenerator:
    backend: ClassVar[str] = "llamacpp"
    can_batch: bool = False

    @classmethod
    async def from_settings(
        cls, settings: ModelSettings, *, cache_dir: Path, api_key: str | None = None
    ) -> LlamaCppGenerator:
        """The GGUF `[model]` names (the bundled SmolLM2 when empty), loaded off the loop."""
        del cache_dir, api_key  # llama.cpp reads the GGUF as it is
        return await asyncio.to_thread(cls._load, settings)

    @classmethod
    def _load(cls, settings: ModelSettings) -> LlamaCppGenerator:
        source = resolve_model_source(settings.path, settings.gguf_file)
        if not source.gguf_file:
            raise ConfigError(
                f"model.path {source.location} is not a GGUF file; the llamacpp backend "
                'serves GGUF models (set model.backend = "hf" for an HF folder)'
            )
        adapter = Path(settings.adapter).expanduser() if settings.adapter else None
        return cls(
            Path(source.location) / source.gguf_file,
            adapter=adapter,
            max_seq_len=settings.max_seq_len,
            threads=settings.threads,
            seed=settings.seed,
        )

    def __init__(
        self,
        model_path: Path,
        *,
        adapter: Path | None = None,
        max_seq_len: int = 4096,
        threads: int = 0,
        seed: int = -1,
    ) -> None:
        """Load the GGUF (and the GGUF LoRA `adapter`, which must be made for this base)."""
        try:
            import llama_cpp
        except ImportError as exc:
            raise ConfigError(INSTALL_HINT) from exc
        model_gguf = check_gguf(model_path, "model.path")
        self.threads = threads or decode_threads()
        if adapter is not None:
            adapter_gguf = check_gguf(adapter, "model.adapter", kind="adapter")
            check_adapter_fits(adapter, model_path, adapter_gguf, model_gguf)
        try:
            self._llama: Any = llama_cpp.Llama(
                model_path=str(model_path),
                n_ctx=max_seq_len,
                n_threads=self.threads,
                **context_options(quantized=has_quantized_weights(model_gguf)),
                lora_path=str(adapter) if adapter is not None else None,
                seed=seed if seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED,
                verbose=False,
            )
        except (RuntimeError, ValueError) as exc:
            what = f"the adapter {adapter} on " if adapter is not None else ""
            raise ConfigError(
                f"llama.cpp cannot load {what}{model_path}: {exc}; an adapter must be exported "
                "from a run trained on this same base (llm-twin export gguf RUN)"
            ) from exc
        # llama-cpp-python does not notice a NULL adapter handle (a failed load); decoding
        # with it would crash the process, so refuse here too.
        if adapter is not None and not getattr(self._llama, "_lora_adapter", True):
            self._llama.close()
            raise ConfigError(
                f"llama.cpp cannot load the adapter {adapter} on {model_path}: an adapter must "
                "be exported from a run trained on this same base (llm-twin export gguf RUN)"
            )
        metadata: dict[str, str] = dict(self._llama.metadata)
        arch = metadata.get("general.architecture", "")
        trained = int(metadata.get(f"{arch}.context_length", max_seq_len) or max_seq_len)
        self.context_length = min(max_seq_len, trained)
        self.model_id = str(model_path)
        self.model_version = adapter.stem if adapter is not None else "base"
        self._template = _ChatTemplate(self._llama, metadata)
        self._eos = self._llama.token_eos()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._live: set[_Job] = set()
        self.generated_tokens = 0  # all streams, for status pages (and cancellation tests)
        self.prompt_tokens_read = 0  # prompt tokens fed to the model, not taken from its cache

    # --- caller side --------------------------------------------------------------

    def render(self, messages: Sequence[Message]) -> str:
        return self._template.render(messages)

    def encode(self, messages: Sequence[Message]) -> list[int]:
        """The prompt's tokens, as they are fed to the model."""
        return self._template.encode(self.render(messages))

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.encode(messages))

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        tokens = self.encode(messages)
        job = _Job(params, len(tokens))
        self._live.add(job)
        self._executor.submit(self._generate, job, tokens)
        try:
            async for event in job.relay():
                yield event
        finally:
            job.cancel.set()  # stops decoding if the caller left early
            self._live.discard(job)

    async def aclose(self) -> None:
        for job in list(self._live):
            job.cancel.set()
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        for job in list(self._live):  # dropped while queued: end their streams too
            if not job.ended:
                job.post(Finished("cancelled", job.prompt_tokens, 0, 0.0, 0.0))
        self._llama.close()

    # --- decoding thread ------------------------------------------------------------

    def _generate(self, job: _Job, tokens: list[int]) -> None:
        if job.cancel.is_set():  # cancelled while queued
            job.post(Finished("cancelled", job.prompt_tokens, 0, 0.0, 0.0))
            return
        try:
            reason, completion = self._decode(job, tokens)
        except Exception as exc:  # fails this stream, not the thread
            job.post(exc)
            return
        end = time.perf_counter()
        first = job.first_token or end
        decoding = end - first
        rate = (completion - 1) / decoding if decoding > 0 and completion > 1 else 0.0
        job.post(Finished(reason, job.prompt_tokens, completion, first - job.started, rate))

    def _decode(self, job: _Job, tokens: list[int]) -> tuple[FinishReason, int]:
        """Token by token until an end token, a stop string, the length or a cancel."""
        p = job.params
        if p.seed is not None:
            self._llama.set_seed(p.seed)
        text = _StopWatch(job)
        count = 0
        reason: FinishReason = "length"
        self.prompt_tokens_read += len(tokens) - self._reuse_cached_prefix(tokens)
        sampler = self._llama.generate(
            tokens,
            top_k=p.top_k if p.temperature > 0 else 1,
            top_p=p.top_p if p.temperature > 0 else 1.0,
            min_p=0.0,
            temp=p.temperature,
            repeat_penalty=p.repetition_penalty,
        )
        for token in sampler:
            if job.cancel.is_set():
                reason = "cancelled"
                break
            if token == self._eos or self._template.ends_turn(token):
                reason = "stop"
                break
            count += 1
            self.generated_tokens += 1
            if text.add(self._llama.detokenize([token])):
                reason = "stop"
                break
            if count >= p.max_new_tokens:
                break
        sampler.close()  # releases the context for the next job
        text.flush()
        return reason, count

    def _reuse_cached_prefix(self, tokens: list[int]) -> int:
        """Keep what the cache holds of this prompt's start (drafts share their system
        brief), cut to whole CACHE_STEPs, and return where reading the prompt starts.

        llama-cpp-python keeps any shared prefix, but a prompt read from a position that is
        not a multiple of 256 attends over up to 255 empty cells more at every step: a
        1,500-token prompt sharing 3 tokens with the last one took 2.2 s against 1.9 s
        fresh. The prompt's last token is always read again (its logits are not kept)."""
        import numpy as np

        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens]
        width = min(len(cached), len(tokens))
        differ = np.flatnonzero(cached[:width] != np.asarray(tokens[:width], dtype=cached.dtype))
        shared = int(differ[0]) if differ.size else width
        keep = max(0, min(shared, len(tokens) - 1)) // CACHE_STEP * CACHE_STEP
        llama.n_tokens = keep  # generate() keeps the cache up to here and drops the rest
        return keep


class _ChatTemplate:
    """The GGUF's own chat template (Jinja, as llama-server renders it); a plain
    transcript for a GGUF without one."""

    def __init__(self, llama: Any, metadata: dict[str, str]) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama = llama
        eos_id, bos_id = llama.token_eos(), llama.token_bos()
        self.eos_text = _token_text(llama, eos_id)
        self.bos_text = _token_text(llama, bos_id)
        template = metadata.get("tokenizer.chat_template")
        self._formatter = (
            Jinja2ChatFormatter(template, eos_token=self.eos_text, bos_token=self.bos_text)
            if template
            else None
        )
        self._add_bos = metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
        # Turn ends a template writes besides EOS (e.g. <|im_end|>, <|eot_id|>), where
        # the vocabulary has them as single special tokens.
        self._enders: set[int] = set()
        for name in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            ids = llama.tokenize(name.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self._enders.add(int(ids[0]))

    def render(self, messages: Sequence[Message]) -> str:
        if self._formatter is None:
            return render_transcript(messages)
        turns = [{"role": m.role, "content": m.content} for m in messages]
        return str(self._formatter(messages=turns).prompt)

    def encode(self, prompt: str) -> list[int]:
        add_bos = self._add_bos and not (self.bos_text and prompt.startswith(self.bos_text))
        tokens: list[int] = self._llama.tokenize(prompt.encode(), add_bos=add_bos, special=True)
        return tokens

    def ends_turn(self, token: int) -> bool:
        return token in self._enders


def _token_text(llama: Any, token: int) -> str:
    if token == -1:
        return ""
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")


class _StopWatch:
    """The completion's text as it grows: decoded incrementally (a character split across
    tokens waits for its last byte), held back while it may be the start of a stop string,
    cut at the first stop string."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._sent = 0
        self._stops = tuple(s for s in job.params.stop if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1

    def add(self, piece: bytes) -> bool:
        """Add a token's bytes; True when a stop string has been reached."""
        self._text += self._decoder.decode(piece)
        for stop in self._stops:
            at = self._text.find(stop, max(0, self._sent - len(stop)))
            if at >= 0:
                self._text = self._text[:at]
                self._post(len(self._text))
                return True
        self._post(len(self._text) - self._hold)
        return False

    def flush(self) -> None:
        self._text += self._decoder.decode(b"", final=True)
        self._post(len(self._text))

    def _post(self, upto: int) -> None:
        if upto <= self._sent:
            return
        delta = self._text[self._sent : upto]
        self._sent = upto
        if self._job.first_token is None:
            self._job.first_token = time.perf_counter()
        self._job.post(TextDelta(delta))
