"""A background job that runs one at a time and never misses a kick.

The service hands analysis and delivery to such jobs so that a feed's poll ends as soon as
its articles are stored: a slow annotator or mail server never holds a feed back from its
next dispatch. A kick while the job runs makes it run once more afterwards, so work that
arrived during a run is not left for the next periodic pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class BackgroundJob:
    """Runs `run` in a task when kicked; at most one run at a time, one more if kicked meanwhile."""

    def __init__(
        self, name: str, run: Callable[[], Awaitable[None]], *, is_stopping: Callable[[], bool]
    ) -> None:
        self.name = name
        self._run = run
        self._is_stopping = is_stopping
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def kick(self) -> asyncio.Task[None]:
        """Start a run, or ask the running one to go once more; return the task."""
        if self._task is not None and not self._task.done():
            self._again = True
            return self._task
        self._task = asyncio.get_running_loop().create_task(self._until_settled(), name=self.name)
        return self._task

    async def _until_settled(self) -> None:
        self._again = True
        while self._again and not self._is_stopping():
            self._again = False
            await self._run()
