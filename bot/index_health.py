"""The index kept in step with the warehouse: checked each time a twin opens it, and
mended in the background (ingest/healing.py) while searches say it is being rebuilt.

A lost table, a half-copied index folder or chunks left by a crash between the two
stores would otherwise answer "no matches" and let drafts silently lose their grounding,
although the warehouse holds every document. The check reads both stores' document ids
(about 30 ms at 100k chunks of 10k documents on 2 cores); the mend re-indexes only
what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from core.errors import TwinError

if TYPE_CHECKING:
    from bot.config import Config
    from ingest.healing import IndexAgreement, Mended, Mending
    from ingest.pipeline import Ingestor
    from ingest.warehouse.store import Warehouse
    from retrieval.index import VectorIndex

log = logging.getLogger(__name__)

# How long a search waits for the check before answering without a note.
CHECK_WAIT = 30.0


class Stores(Protocol):
    """What the health of the index is checked and mended with (a `Twin`)."""

    config: Config

    @property
    def warehouse(self) -> Warehouse: ...

    @property
    def index(self) -> VectorIndex: ...

    def ingestor(self) -> AbstractAsyncContextManager[Ingestor]: ...


class IndexHealth:
    def __init__(self, twin: Stores) -> None:
        self._twin = twin
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._checked = threading.Event()
        self.agreement: IndexAgreement | None = None  # what the check found
        self.mending: Mending | None = None  # the mend under way or done, if one was needed
        self.mended: Mended | None = None

    def opened(self, index: VectorIndex) -> VectorIndex:
        """The twin opened `index`: check it (once) in the background; `index` back."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="index-health")
                self._thread.daemon = True  # Ctrl-C ends the process; a mend resumes later
                self._thread.start()
        return index

    def starting_over(self, open_index: Callable[..., VectorIndex]) -> VectorIndex:
        """`reindex`: any mend stops, then the index is opened empty (`reset=True`) to be
        rebuilt."""
        self.stop()
        return open_index(reset=True)

    def note(self) -> str | None:
        """What a search or draft should say about the index now ("being rebuilt…"), or
        None; waits for the check when it is still running."""
        if self._thread is None:
            return None
        self._checked.wait(CHECK_WAIT)
        mending = self.mending
        return None if mending is None else mending.note()

    def wait(self) -> None:
        """Until the check and any mend are done (the CLI finishes a mend before exit)."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        """End a mend after the batch being written (what is written stays), and wait."""
        mending = self.mending
        if mending is not None:
            mending.stop()
        self.wait()

    def _run(self) -> None:
        from ingest.healing import Mending, compare

        twin = self._twin
        try:
            agreement = self.agreement = compare(twin.warehouse, twin.index)
            # Chunks of removed documents alone are what a `forget` without a bot leaves
            # for this open to drop: routine. Documents without chunks are a fault.
            level = logging.WARNING if agreement.missing else logging.INFO
            if not agreement.ok:
                log.log(
                    level,
                    "the index at %s is out of step (%s); mending it from the warehouse",
                    twin.config.index_path,
                    agreement.describe(),
                )
                self.mending = Mending(agreement)
            self._checked.set()
            if self.mending is not None:
                mended = self.mended = asyncio.run(self._mend(agreement, self.mending))
                if mended.error:
                    log.warning(
                        "mending the index stopped (it goes on at the next open): %s", mended.error
                    )
                else:
                    log.log(level, "index mended: %s", mended.describe())
        except TwinError as exc:  # a store that cannot be opened: the command says so
            log.info("checking the index against the warehouse failed: %s", exc)
        except Exception as exc:  # never take the process down from here
            log.warning("checking the index against the warehouse failed: %r", exc)
        finally:
            self._checked.set()

    async def _mend(self, agreement: IndexAgreement, mending: Mending) -> Mended:
        from ingest.healing import mend

        async with self._twin.ingestor() as ingestor:
            return await mend(ingestor, agreement, mending)
