"""`exl2`: EXL2-quantized models on CUDA through exllamav2's dynamic generator.

exllamav2 compiles its CUDA extension when imported, so it is imported here lazily and
only when this backend is chosen. Its generator runs forward passes synchronously: one
worker thread owns it, takes new jobs and cancellations from a queue, calls `iterate()`
while any job is live (concurrent jobs are batched), and hands events back to each
caller's event loop. Chat handlers never wait on a forward pass.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import queue
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

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
from model.settings import ModelSettings

log = logging.getLogger(__name__)
CacheKind = Literal["fp16", "q8", "q6", "q4"]
_CACHE_CLASSES = {
    "fp16": "ExLlamaV2Cache",
    "q8": "ExLlamaV2Cache_Q8",
    "q6": "ExLlamaV2Cache_Q6",
    "q4": "ExLlamaV2Cache_Q4",
}
_FINISH: dict[str, FinishReason] = {
    "stop_token": "stop",
    "stop_string": "stop",
    "end_filter": "stop",
    "max_new_tokens": "length",
}


def import_exllamav2() -> Any:
    """exllamav2, or a ConfigError that says what is missing and what to do."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise ConfigError(f"the exl2 backend needs torch ({exc})") from exc
    if not torch.cuda.is_available():
        raise ConfigError(
            "the exl2 backend needs a CUDA GPU and none is visible; on this machine set "
            'model.backend = "hf" (transformers on CPU) or "openai" (a remote server)'
        )
    try:
        return importlib.import_module("exllamav2")
    except Exception as exc:  # ImportError, or the CUDA extension failing to build
        raise ConfigError(
            f"the exl2 backend needs exllamav2 ({type(exc).__name__}: {exc}); install it "
            "with pip install 'llm-twin[exl2]' on a machine with CUDA and nvcc"
        ) from exc


@dataclass(eq=False)
class _Job(ThreadedJob):
    input_ids: Any
    params: GenerationParams
    prompt_tokens: int
    handle: Any = None  # the exllamav2 job, once enqueued


class Exl2Generator:
    backend: ClassVar[str] = "exl2"
    # With flash-attn installed (see `paged`); otherwise jobs run in turn.
    can_batch: bool = True
    paged: bool
    batch_size: int

    @classmethod
    async def from_settings(
        cls, settings: ModelSettings, *, cache_dir: Path, api_key: str | None = None
    ) -> Exl2Generator:
        """The EXL2 folder `[model]` names, loaded off the event loop."""
        del cache_dir, api_key  # an EXL2 folder loads as it is
        if not settings.path:
            raise ConfigError(
                "model.backend is exl2 but model.path is empty; point it at an EXL2 model folder"
            )
        return await asyncio.to_thread(cls._load, settings)

    @classmethod
    def _load(cls, settings: ModelSettings) -> Exl2Generator:
        adapter = Path(settings.adapter).expanduser() if settings.adapter else None
        return cls(
            Path(settings.path).expanduser(),
            max_seq_len=settings.max_seq_len,
            cache=cast(CacheKind, settings.cache),
            lora_dir=adapter,
        )

    def __init__(
        self,
        model_dir: Path,
        *,
        max_seq_len: int = 4096,
        cache: CacheKind = "q6",
        max_batch_size: int = 8,
        lora_dir: Path | None = None,
    ) -> None:
        """Load the model now: a missing or broken model fails start-up, not a request."""
        exl = import_exllamav2()
        from exllamav2.generator import ExLlamaV2DynamicGenerator, ExLlamaV2Sampler

        self._sampler = ExLlamaV2Sampler
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise ConfigError(f"{model_dir} is not an EXL2 model folder (no config.json)")
        config = exl.ExLlamaV2Config(str(model_dir))
        config.arch_compat_overrides()
        # Not the model's own (often 128k) window: the cache is sized from this.
        config.max_seq_len = max_seq_len
        self.model = exl.ExLlamaV2(config)
        # Batching concurrent jobs needs paged attention (flash-attn >= 2.5.7). Without
        # it the generator runs unpaged: one job at a time, the others queued in turn.
        attn = importlib.import_module("exllamav2.attn")
        self.paged = bool(getattr(attn, "has_flash_attn_with_paged", False))
        self.batch_size = max_batch_size if self.paged else 1
        self.can_batch = self.paged
        if not self.paged:
            log.warning("flash-attn >= 2.5.7 not found: exl2 jobs run one at a time")
        cache_cls = getattr(exl, _CACHE_CLASSES[cache])
        self._cache = cache_cls(self.model, max_seq_len=max_seq_len * self.batch_size, lazy=True)
        self.model.load_autosplit(self._cache, progress=False)
        self.tokenizer = exl.ExLlamaV2Tokenizer(config)
        self._generator = ExLlamaV2DynamicGenerator(
            model=self.model,
            cache=self._cache,
            tokenizer=self.tokenizer,
            max_batch_size=self.batch_size,
            max_seq_len=max_seq_len,
            paged=self.paged,
        )
        if lora_dir is not None:
            lora = exl.ExLlamaV2Lora.from_directory(self.model, str(lora_dir))
            self._generator.set_loras([lora])
        self.max_seq_len = self.context_length = max_seq_len
        self.model_id = str(model_dir)
        self.model_version = lora_dir.name if lora_dir is not None else "base"
        self._template = _load_chat_template(model_dir)
        self._inbox: queue.SimpleQueue[tuple[str, _Job]] = queue.SimpleQueue()
        self._jobs: dict[int, _Job] = {}
        self._closed = threading.Event()
        self._worker = threading.Thread(target=self._run, name="exl2-generator", daemon=True)
        self._worker.start()

    # --- caller side (any event loop) ---------------------------------------------

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        prompt = self.render(messages)
        input_ids = self.tokenizer.encode(prompt, add_bos=False, encode_special_tokens=True)
        prompt_tokens = int(input_ids.shape[-1])
        if prompt_tokens + params.max_new_tokens > self.max_seq_len:
            raise ConfigError(
                f"prompt of {prompt_tokens} tokens plus max_new_tokens "
                f"{params.max_new_tokens} exceeds model.max_seq_len {self.max_seq_len}"
            )
        job = _Job(input_ids, params, prompt_tokens)
        self._inbox.put(("submit", job))
        try:
            async for event in job.relay():
                yield event
        finally:
            if not job.ended:  # the caller stopped listening: stop generating
                self._inbox.put(("cancel", job))

    def count_tokens(self, messages: Sequence[Message]) -> int:
        ids = self.tokenizer.encode(
            self.render(messages), add_bos=False, encode_special_tokens=True
        )
        return int(ids.shape[-1])

    def render(self, messages: Sequence[Message]) -> str:
        turns = [{"role": m.role, "content": m.content} for m in messages]
        if self._template is not None:
            rendered: str = self._template.apply_chat_template(
                turns, tokenize=False, add_generation_prompt=True
            )
            return rendered
        return render_transcript(messages)

    async def aclose(self) -> None:
        self._closed.set()
        await asyncio.to_thread(self._worker.join, 10)
        # Whatever was live or still in the inbox ends as cancelled: no stream hangs.
        for job in [*self._jobs.values(), *self._drain_inbox()]:
            if not job.ended:
                job.post(Finished("cancelled", job.prompt_tokens, 0, 0.0, 0.0))
        self._jobs.clear()

    def _drain_inbox(self) -> list[_Job]:
        jobs = []
        while True:
            try:
                jobs.append(self._inbox.get_nowait()[1])
            except queue.Empty:
                return jobs

    # --- worker thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed.is_set():
            self._take_inbox(block=not self._jobs)
            if not self._jobs:
                continue
            try:
                results = self._generator.iterate()
            except Exception as exc:  # a CUDA error fails every live job, not the worker
                for job in list(self._jobs.values()):
                    job.post(exc)
                self._jobs.clear()
                continue
            for result in results:
                self._dispatch(result)

    def _take_inbox(self, *, block: bool) -> None:
        try:
            kind, job = self._inbox.get(timeout=0.1) if block else self._inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            if kind == "submit":
                try:
                    self._enqueue(job)
                except Exception as exc:  # a bad job fails alone; the thread lives on
                    self._jobs.pop(id(job), None)
                    job.post(exc)
            elif job.handle is not None and id(job) in self._jobs:
                self._generator.cancel(job.handle)
                self._finish(job, "cancelled", new_tokens=0, generate_time=0.0)
            try:
                kind, job = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _enqueue(self, job: _Job) -> None:
        from exllamav2.generator import ExLlamaV2DynamicJob

        p = job.params
        settings = self._sampler.Settings(
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=p.top_k,
            token_repetition_penalty=p.repetition_penalty,
        )
        job.handle = ExLlamaV2DynamicJob(
            input_ids=job.input_ids,
            max_new_tokens=p.max_new_tokens,
            gen_settings=settings,
            seed=p.seed,
            stop_conditions=[self.tokenizer.eos_token_id, *p.stop],
            identifier=id(job),
        )
        self._jobs[id(job)] = job
        self._generator.enqueue(job.handle)

    def _dispatch(self, result: dict[str, Any]) -> None:
        job = self._jobs.get(result.get("identifier"))  # type: ignore[arg-type]
        if job is None or result.get("stage") != "streaming":
            return
        text = result.get("text") or ""
        if text:
            if job.first_token is None:
                job.first_token = time.perf_counter()
            job.post(TextDelta(text))
        if result.get("eos"):
            reason = _FINISH.get(str(result.get("eos_reason")), "stop")
            self._finish(
                job,
                reason,
                new_tokens=int(result.get("new_tokens", 0)),
                generate_time=float(result.get("time_generate", 0.0)),
            )

    def _finish(
        self, job: _Job, reason: FinishReason, *, new_tokens: int, generate_time: float
    ) -> None:
        self._jobs.pop(id(job), None)
        ttft = (job.first_token or time.perf_counter()) - job.started
        rate = new_tokens / generate_time if generate_time > 0 else 0.0
        job.post(Finished(reason, job.prompt_tokens, new_tokens, ttft, rate))


def _load_chat_template(model_dir: Path) -> Any:
    """The model's own chat template, through transformers' tokenizer, when it has one."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except Exception:  # no HF tokenizer files: fall back to a plain transcript
        return None
    return tokenizer if getattr(tokenizer, "chat_template", None) else None
