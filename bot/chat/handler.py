"""The platform-neutral command handler: one `Command` in, `Out` events back.

Every chat front end's `TwinError` becomes its reply here (the CLI's do in
bot/cli/context.py); a handler call never raises for bad input, and an unexpected error
becomes one message (and a logged traceback), so one bad update never takes the bot down.
Access control, the per-user rate limit and the one-draft-in-flight rule live here, so
every adapter gets them alike.

`train` runs the trainer as a child process (training/jobs.py) and shows its progress
as one message edited at most every `chat.edit_interval` seconds (the `DraftUpdate`s every
adapter already renders), then a `Say` with the outcome. The job outlives the message: a
chat that stops listening leaves it running, and `train status` shows where it is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from bot.chat.commands import HELP, Command, parse, parse_models, parse_train
from bot.chat.replies import ChatUser, DraftFinal, DraftUpdate, FeedbackAction, Out, Say
from bot.metrics import Metrics
from bot.schedules.control import schedule_command
from bot.schedules.service import ScheduleService
from bot.twin import Twin
from core.errors import InputError, TwinError
from core.wording import plural
from ingest.results import summary
from model.draft import DraftDone, DraftRequest, DraftWriter, Prepared
from model.generator import Finished, TextDelta
from model.naming import configured_model, describe_model
from training.jobs import TrainingJobs

log = logging.getLogger(__name__)

REFUSAL = "Sorry, this twin only works for its owner."


@dataclass
class _InFlight:
    task: asyncio.Task[None]
    events: asyncio.Queue[TextDelta | DraftDone | BaseException | None]


class ChatHandler:
    def __init__(
        self,
        twin: Twin,
        writer: DraftWriter,
        *,
        allowed: Callable[[ChatUser], bool],
        rate_per_minute: int = 20,
        metrics: Metrics | None = None,
        training: TrainingJobs | None = None,
        schedules: ScheduleService | None = None,
    ) -> None:
        self.twin = twin
        self.training = training or TrainingJobs(twin.training_context())
        self.writer = writer
        self.allowed = allowed
        self.rate_per_minute = rate_per_minute
        self._recent: dict[str, deque[float]] = {}
        self._drafts: dict[str, _InFlight] = {}
        self.metrics = metrics
        self.schedules = schedules  # None: this process runs no schedules

    @property
    def drafts_in_flight(self) -> int:
        return len(self._drafts)

    async def handle(
        self, user: ChatUser, message: str, *, draft_format: str | None = None
    ) -> AsyncGenerator[Out, None]:
        """Everything said back to `message`, in order. `draft_format` (the web page's
        format picker) applies only when the parser reads `message` as a draft prompt that
        names no format itself: commands and links stay as typed."""
        started = time.perf_counter()
        command = parse(message)
        if draft_format and command.name == "draft" and command.format is None:
            command = dataclasses.replace(command, format=draft_format)
        if not self.allowed(user):
            log.warning("refused %s (%s): not in the allowlist", user.key, user.name)
            yield Say(REFUSAL)
            return
        if (wait := self._rate_limited(user)) is not None:
            yield Say(f"Slow down: too many requests. Try again in {wait:.0f} s.")
            return
        try:
            async for out in self._dispatch(user, command):
                yield out
        except TwinError as exc:
            yield Say(f"⚠️ {exc}")
        except Exception as exc:
            log.exception("command %r from %s failed", command.name, user.key)
            yield Say(f"⚠️ Something went wrong ({type(exc).__name__}); I am still running.")
        finally:
            if self.metrics is not None:
                self.metrics.observe(command.name, time.perf_counter() - started)

    async def feedback(
        self, user: ChatUser, draft_id: str, action: FeedbackAction, text: str = ""
    ) -> AsyncGenerator[Out, None]:
        """👍 / 👎 / regenerate / an edited version, stored against the draft."""
        try:
            async for out in self._feedback(user, draft_id, action, text):
                yield out
        except TwinError as exc:  # a store that failed (a full disk, a server gone)
            yield Say(f"⚠️ {exc}")

    async def _feedback(
        self, user: ChatUser, draft_id: str, action: FeedbackAction, text: str
    ) -> AsyncGenerator[Out, None]:
        if not self.allowed(user):
            yield Say(REFUSAL)
            return
        store = self.twin.drafts
        draft = await asyncio.to_thread(store.get, draft_id)
        if draft is None:
            yield Say(f"⚠️ draft {draft_id}: not found (it may have been made elsewhere)")
            return
        if action == "regenerate":
            await asyncio.to_thread(
                store.add_feedback, draft_id, user=user.key, comment="regenerate"
            )
            async for out in self._dispatch(
                user, Command("draft", draft.prompt, draft.links, format=draft.format)
            ):
                yield out
            return
        if action == "edit":
            if not text.strip():
                yield Say("Reply to the draft with your corrected version to store it.")
                return
            await asyncio.to_thread(
                store.add_feedback, draft_id, user=user.key, edited_text=text.strip()
            )
            yield Say("Saved your edit: the next training run learns from it. ✏️")
            return
        rating = 1 if action == "up" else -1
        await asyncio.to_thread(store.add_feedback, draft_id, user=user.key, rating=rating)
        yield Say("Noted 👍" if rating > 0 else "Noted 👎: regenerate, or reply with your version.")

    async def cancel(self, user: ChatUser) -> bool:
        """Stop `user`'s draft in flight; False when there was none."""
        flight = self._drafts.get(user.key)
        if flight is None:
            return False
        flight.task.cancel()
        return True

    async def cancel_all(self) -> int:
        """Shutdown: stop every draft (each is recorded as cancelled) and a training
        child (its run is marked failed and resumable); the number of drafts stopped."""
        flights = list(self._drafts.values())
        for flight in flights:
            flight.task.cancel()
        await asyncio.gather(
            *(f.task for f in flights), self.training.shutdown(), return_exceptions=True
        )
        return len(flights)

    # --- commands -----------------------------------------------------------------------

    async def _dispatch(self, user: ChatUser, command: Command) -> AsyncIterator[Out]:
        match command.name:
            case "draft":
                async for out in self._draft(user, command):
                    yield out
            case "ingest":
                yield Say(await self._ingest(command))
            case "search":
                yield Say(await self._search(command.text))
            case "sources":
                yield Say(await self._sources())
            case "forget":
                yield Say(await self._forget(command))
            case "status":
                yield Say(await self._status())
            case "cancel":
                cancelled = await self.cancel(user)
                hint = " (train cancel stops training)" if self.training.current else ""
                yield Say("Cancelling your draft." if cancelled else f"No draft in progress{hint}.")
            case "train":
                async for out in self._train(command):
                    yield out
            case "models":
                yield Say(await self._models(command))
            case "recrawl":
                yield Say(await self._recrawl(command))
            case "schedules" | "pause" | "resume" | "run":
                yield Say(await schedule_command(self.schedules, command.name, command.text))
            case "help":
                yield Say(HELP)
            case _:
                yield Say(f"I do not know the command {command.word!r}.\n\n{HELP}")

    async def _draft(self, user: ChatUser, command: Command) -> AsyncIterator[Out]:
        if not command.text.strip():
            raise InputError("prompt", "is empty; say what to write about, e.g. draft why evals")
        if user.key in self._drafts:
            yield Say("A draft of yours is already in progress; send cancel to stop it.")
            return
        request = DraftRequest(
            prompt=command.text,
            format=command.format or self.twin.config.drafting.format,
            links=command.urls,
            user=user.key,
        )
        events: asyncio.Queue[TextDelta | DraftDone | BaseException | None] = asyncio.Queue()
        flight = _InFlight(asyncio.create_task(self._pump(request, events)), events)
        self._drafts[user.key] = flight
        text = ""
        try:
            while (event := await events.get()) is not None:
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, TextDelta):
                    text += event.text
                    yield DraftUpdate(text)
                    continue
                record = event.draft
                if self.metrics is not None and "completion_tokens" in record.timings:
                    self.metrics.draft_finished(
                        record.timings["completion_tokens"], record.timings["tokens_per_second"]
                    )
                yield DraftFinal.of(record)
        finally:
            self._drafts.pop(user.key, None)
            if not flight.task.done():  # the adapter stopped listening
                flight.task.cancel()

    async def _pump(
        self,
        request: DraftRequest,
        events: asyncio.Queue[TextDelta | DraftDone | BaseException | None],
    ) -> None:
        """Runs the draft in its own task, so `cancel` from another message can stop it
        while this user's handler keeps rendering what came so far."""
        draft_id = ""
        try:
            async for event in self.writer.write(request):
                if isinstance(event, Prepared):
                    draft_id = event.draft_id
                else:
                    events.put_nowait(event)
        except asyncio.CancelledError:
            # The writer recorded the partial draft as it unwound: show that record.
            record = self.twin.drafts.get(draft_id) if draft_id else None
            if record is not None:
                events.put_nowait(DraftDone(record, Finished("cancelled", 0, 0, 0.0, 0.0)))
            raise
        except BaseException as exc:
            events.put_nowait(exc)
            return
        finally:
            events.put_nowait(None)

    async def _train(self, command: Command) -> AsyncIterator[Out]:
        args = parse_train(command.text)
        if args.action == "status":
            yield Say(await self.training.status_text())
            return
        if args.action == "cancel":
            job = await self.training.cancel()
            yield Say("Cancelling the training run." if job else "No training in progress.")
            return
        job = await self.training.start(args.options)
        async for text in job.live(self.twin.config.chat.edit_interval):
            yield DraftUpdate(text)
        yield Say((await job.wait()).summary())

    async def _models(self, command: Command) -> str:
        """The runs with their status (* the active one), or activate one."""
        models = await asyncio.to_thread(lambda: self.twin.models)
        target = parse_models(command.text)
        if target is not None:
            run = await asyncio.to_thread(models.activate, None if target == "base" else target)
            swapped = await self.twin.follow_active_model()
            now = " New drafts use it now." if swapped else ""
            return f"Active model: {run.id if run else 'base'}.{now}"
        runs = await asyncio.to_thread(models.runs, 20)
        active = await asyncio.to_thread(models.active)
        base = configured_model(self.twin.config.model)
        lines = [f"{'*' if active is None else ' '} base: {base}"]
        for r in runs:
            mark = "*" if active is not None and r.id == active.id else " "
            ppl = r.metrics.get("eval", {}).get(r.id, {}).get("perplexity")
            extra = f", perplexity {ppl:.2f}" if ppl is not None else ""
            extra += f": {r.error}" if r.status == "failed" and r.error else ""
            lines.append(f"{mark} {r.id} {r.status} ({r.stage}){extra}")
        if not runs:
            lines.append("No training runs yet: send train to fine-tune on your writing.")
        return "\n".join(lines)

    async def _ingest(self, command: Command) -> str:
        if not command.urls:
            raise InputError("ingest", "give one or more links, e.g. ingest https://you.blog/post")
        async with self.twin.ingestor() as ingestor:
            results = await ingestor.ingest(list(command.urls))
        return "\n".join([*(r.line() for r in results), summary(results, "link", "ingested")])

    async def _recrawl(self, command: Command) -> str:
        only = command.text.split()
        async with self.twin.ingestor() as ingestor:
            results = await ingestor.recrawl(only)
        if not results:
            return "No sources yet: drop a link to your writing."
        return "\n".join([*(r.line() for r in results), summary(results, "source", "recrawled")])

    async def _search(self, query: str) -> str:
        hits = await self.twin.search(query)
        note = await asyncio.to_thread(self.twin.health.note)  # the index being rebuilt
        lines = [f"⚠️ Note: {note}."] if note else []
        if not hits:
            return "\n\n".join([*lines, "No matches."])
        for rank, hit in enumerate(hits, 1):
            title = hit.chunk.title or "(untitled)"
            lines.append(f"{rank}. {title} <{hit.chunk.url}>\n{hit.snippet(200)}")
        return "\n\n".join(lines)

    async def _sources(self) -> str:
        rows = await asyncio.to_thread(self.twin.warehouse.list_sources)
        if not rows:
            return "No sources yet: drop a link to your writing."
        return "\n".join(
            f"- {s.url} [{s.platform}] {plural(s.documents, 'document')}, {s.status}"
            + (f" ({s.last_error})" if s.last_error else "")
            for s in rows
        )

    async def _forget(self, command: Command) -> str:
        if not command.urls:
            raise InputError("forget", "give the link of a source, e.g. forget https://you.blog")
        url = command.urls[0]
        async with self.twin.ingestor() as ingestor:
            removed = await asyncio.to_thread(ingestor.forget, url)
        if not removed:
            return f"⚠️ {url}: not a known source or document; see sources"
        return f"Forgot {url}: {len(removed)} documents and their chunks removed."

    async def _status(self) -> str:
        twin = self.twin
        documents = await asyncio.to_thread(twin.warehouse.count_documents)
        chunks = await asyncio.to_thread(twin.index.count)
        worker = await twin.model_worker()
        g = worker.generator
        return (
            f"Documents: {documents}\nChunks: {chunks}\n"
            f"Model: {describe_model(g.model_id, g.backend, g.model_version)}\n"
            f"Generating: {worker.active}, queued: {worker.queued()}"
        )

    def _rate_limited(self, user: ChatUser) -> float | None:
        """Seconds to wait, or None: a sliding one-minute window per user."""
        now = time.monotonic()
        recent = self._recent.setdefault(user.key, deque())
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self.rate_per_minute:
            return 60 - (now - recent[0])
        recent.append(now)
        return None
