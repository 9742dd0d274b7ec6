"""The config sections of model: [model] (which generator drafts), [owner] and [drafting].

Each field is one key of `config.toml` (where it is documented for the owner); a test keeps
the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import plugins
from core.settings import require
from model.generator import GenerationParams
from model.prompts import FORMATS, LINKEDIN_TARGET_CHARS

EXL2_CACHES = ("fp16", "q8", "q6", "q4")
MAX_VOICE_NOTES = 20
MAX_VOICE_NOTE_CHARS = 300


@dataclass(frozen=True)
class ModelSettings:
    # A registered generator: "llamacpp" (llama.cpp on a GGUF), "hf" (transformers),
    # "exl2" (exllamav2 on CUDA), "openai". Empty: llamacpp for a GGUF when llama-cpp-python
    # is installed, else hf.
    backend: str = ""
    # hf: folder, .gguf file or cached hub id (empty: the bundled SmolLM2 GGUF); exl2: the
    # EXL2 folder.
    path: str = ""
    # hf: the GGUF file inside `path` when `path` is a folder holding several.
    gguf_file: str = ""
    # A LoRA adapter folder applied on top. Empty: none.
    adapter: str = ""
    # hf: "cpu", "cuda", "cuda:1".
    device: str = "cpu"
    # Prompt plus draft, in tokens; also sizes the exl2 cache.
    max_seq_len: int = 4096
    # llamacpp and hf on CPU: threads (0: llamacpp every core up to 8, hf torch's default).
    threads: int = 0
    # exl2: KV cache precision.
    cache: str = "q6"
    # openai: the server's base URL and the served model's name (empty: the first listed).
    url: str = ""
    name: str = ""
    # hf: where a GGUF is dequantized once. Empty: $TWIN_HOME/models.
    cache_dir: str = ""
    # Hard cap on the tokens of any one generation.
    max_new_tokens: int = 1024
    # Seconds one generation may run before it is stopped.
    timeout: float = 600.0
    # Generations at once (0: 8 for backends that batch, else 1).
    slots: int = 0
    # Seconds between looks at the model registry by a running bot (0: never).
    reload_interval: float = 15.0
    # llamacpp: the sampling seed when a request names none (-1: a new one each start).
    seed: int = -1

    def validate(self) -> None:
        backends = plugins.names(plugins.GENERATORS)
        require(
            self.backend in ("", *backends),
            "model.backend",
            f"must be one of {', '.join(backends)} (or empty to choose by the model)",
        )
        require(
            self.cache in EXL2_CACHES, "model.cache", f"must be one of {', '.join(EXL2_CACHES)}"
        )
        require(
            self.backend != "openai" or bool(self.url),
            "model.url",
            "must be set when model.backend is openai (e.g. http://gpu-host:5000/v1)",
        )
        require(self.max_seq_len >= 256, "model.max_seq_len", "must be at least 256")
        require(self.max_new_tokens >= 1, "model.max_new_tokens", "must be at least 1")
        require(self.timeout > 0, "model.timeout", "must be positive")
        require(self.reload_interval >= 0, "model.reload_interval", "must be 0 (off) or more")


@dataclass(frozen=True)
class OwnerSettings:
    # Whose voice the drafts are in. Empty: "the author".
    name: str = ""
    # One or two sentences about the owner, given to the model with every draft.
    bio: str = ""
    # The owner's author names and handles as documents carry them (["*"]: every author).
    # Empty: `name`.
    names: tuple[str, ...] = ()
    # Your own do/don't lines for your voice, given to the model with every draft beside
    # the style measured from your writing (e.g. "never use the word 'synergy'").
    voice_notes: tuple[str, ...] = ()

    @property
    def author_names(self) -> tuple[str, ...]:
        """Whose documents are the owner's: `names`, else `name`."""
        return self.names or ((self.name,) if self.name else ())

    def validate(self) -> None:
        # any name will do; a voice note is one short line
        require(
            len(self.voice_notes) <= MAX_VOICE_NOTES,
            "owner.voice_notes",
            f"must be at most {MAX_VOICE_NOTES} lines",
        )
        for note in self.voice_notes:
            require(
                bool(note.strip())
                and "\n" not in note.strip()
                and len(note) <= MAX_VOICE_NOTE_CHARS,
                "owner.voice_notes",
                f"must each be one line of 1..{MAX_VOICE_NOTE_CHARS} characters; this one is "
                f"not: {note[:40]!r}",
            )


@dataclass(frozen=True)
class DraftSettings:
    # Default format: "linkedin", "thread", "article" or "answer".
    format: str = "linkedin"
    # Sampling for drafts (max_new_tokens is capped by model.max_new_tokens).
    max_new_tokens: int = 400
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    # Passages of the owner's writing retrieved per draft (0: none).
    k: int = 6
    # Token budget for material (passages and shared links) in the prompt.
    context_tokens: int = 1500
    # The owner's own pieces of the draft's format (their LinkedIn posts for a LinkedIn
    # draft...) shown as examples of voice and shape, not facts (0: none); and their own
    # token budget in the prompt, on top of context_tokens.
    voice_examples: int = 3
    voice_tokens: int = 800
    # Extra search queries the model writes from the prompt (0: off).
    expand_queries: int = 0
    # Read filters (platform, year) off the prompt when obvious.
    infer_filters: bool = True
    # Also ingest the links shared for a draft.
    ingest_links: bool = False
    # Links read per draft; the rest are ignored with a note.
    max_links: int = 3
    # LinkedIn drafts are cut at a sentence end to fit this many characters (LinkedIn's own
    # limit is 3,000).
    linkedin_max_chars: int = LINKEDIN_TARGET_CHARS

    def params(self) -> GenerationParams:
        """The sampling parameters of a draft."""
        return GenerationParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            repetition_penalty=self.repetition_penalty,
        )

    def validate(self) -> None:
        require(self.format in FORMATS, "drafting.format", f"must be one of {', '.join(FORMATS)}")
        require(self.max_new_tokens >= 16, "drafting.max_new_tokens", "must be at least 16")
        require(self.temperature >= 0, "drafting.temperature", "must be 0 or more")
        require(0 < self.top_p <= 1, "drafting.top_p", "must be in (0, 1]")
        require(self.k >= 0, "drafting.k", "must be 0 or more")
        require(self.context_tokens >= 0, "drafting.context_tokens", "must be 0 or more")
        require(0 <= self.voice_examples <= 10, "drafting.voice_examples", "must be 0..10")
        require(self.voice_tokens >= 0, "drafting.voice_tokens", "must be 0 or more")
        require(0 <= self.expand_queries <= 5, "drafting.expand_queries", "must be 0..5")
        require(0 <= self.max_links <= 10, "drafting.max_links", "must be 0..10")
        require(
            200 <= self.linkedin_max_chars <= 3000,
            "drafting.linkedin_max_chars",
            "must be 200..3000 (LinkedIn allows 3,000)",
        )
