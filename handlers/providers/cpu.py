"""Where the offline generator's CPU work runs: off the event loop, with a hard time limit.

The offline generator is pure computation on user text. Run on the event loop, one slow
input stops heartbeats, SSE and the API of the whole process (issue 7: a pathological
regex froze it for minutes, and every replica that reaped the job froze in turn). So the
server runs that work in a :class:`ProcessPool`: separate processes, one job each at a
time, and a call that outlives its time limit has its process killed and replaced. A
thread would not do: Python cannot stop a thread that is stuck inside a regex.

The pool's lifetime belongs to the server (a cleanup context in the app factory); the
generator only sees the :class:`CpuRunner` interface. Tests and the benchmark, which have
no loop to protect, use :class:`InlineRunner`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from handlers.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIME_LIMIT_S = 30.0
# Modules a fresh worker process imports before its first call, so that call is not slow.
_PRELOAD = ["handlers.providers.offline"]


class CpuRunner(Protocol):
    """Runs ``fn(*args)`` (a module-level function with picklable arguments) to completion."""

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T: ...


class InlineRunner:
    """Runs the function right here. Only for callers with no event loop to keep responsive."""

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        return fn(*args)


class TooSlow(PermanentError):
    """The work outlived its time limit. The generator is deterministic: a retry would too."""


class WorkerLost(RetryableError):
    """The worker process died under the call (killed by the system, out of memory)."""


class ProcessPool:
    """``size`` single-process executors: a call takes one, a stuck call kills only its own.

    One executor per slot (rather than one executor of ``size`` processes) means a timeout
    kills exactly the process that is stuck; jobs running in other slots are unaffected.
    """

    def __init__(self, size: int, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        if size < 1:
            raise ValueError("A process pool needs at least one process.")
        self.time_limit_s = time_limit_s
        # "fork" would copy a process with live threads and sockets; forkserver starts each
        # worker from a clean, single-threaded server with the generator preloaded.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None
        self._context = multiprocessing.get_context(method)
        if method == "forkserver":
            self._context.set_forkserver_preload(_PRELOAD)
        self._idle: asyncio.Queue[ProcessPoolExecutor] = asyncio.Queue()
        self._all: set[ProcessPoolExecutor] = set()
        for _ in range(size):
            self._idle.put_nowait(self._new_executor())
        self.replaced = 0  # executors killed and replaced, for tests and logs
        self._starting: set[asyncio.Future[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Start every process now, so no job's time limit pays for the start-up.

        Starting a process blocks its caller (for the first, the forkserver boots too), so
        it happens in a thread; a call that arrives meanwhile waits for a started slot.
        """
        executors = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        try:
            await asyncio.gather(*(asyncio.to_thread(_warm, e) for e in executors))
        finally:
            for executor in executors:
                self._idle.put_nowait(executor)

    def _new_executor(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=1, mp_context=self._context, initializer=_lower_priority
        )
        self._all.add(executor)
        return executor

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        if self._closed:
            raise RetryableError("The server was shutting down.")
        executor = await self._idle.get()
        healthy = True
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
            return await asyncio.wait_for(future, self.time_limit_s)
        except TimeoutError:
            healthy = False
            log.warning("offline work exceeded %.0f s; killing its process", self.time_limit_s)
            raise TooSlow(
                "This material took too long to process without an API key, so the work was "
                "stopped. Split it into smaller parts, or configure an ANTHROPIC_API_KEY."
            ) from None
        except BrokenProcessPool:
            healthy = False
            raise WorkerLost(
                "Card generation stopped unexpectedly."
            ) from None
        except asyncio.CancelledError:
            # The job was cancelled or timed out upstream: its process must not run on.
            healthy = False
            raise
        finally:
            if healthy:
                self._idle.put_nowait(executor)
            else:
                self._replace(executor)

    def _replace(self, executor: ProcessPoolExecutor) -> None:
        """Kill the slot's process; a fresh one joins the idle slots once it has started."""
        _kill(executor)
        self._all.discard(executor)
        self.replaced += 1
        fresh = self._new_executor()
        task = asyncio.ensure_future(self._release_when_started(fresh))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _release_when_started(self, executor: ProcessPoolExecutor) -> None:
        try:
            await asyncio.to_thread(_warm, executor)
        finally:
            self._idle.put_nowait(executor)

    async def aclose(self) -> None:
        """Stop every worker process. Callers have finished (the workers stopped first)."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()
        executors, self._all = list(self._all), set()
        for executor in executors:
            _kill(executor)
        await asyncio.gather(
            *(asyncio.to_thread(e.shutdown, wait=True, cancel_futures=True) for e in executors)
        )


# Background computation yields the CPU to the server's own process: on a busy machine the
# event loop (heartbeats, SSE, the API) must be scheduled before a card generator.
WORKER_NICENESS = 10


def _lower_priority() -> None:
    os.nice(WORKER_NICENESS)


def _ready() -> None:
    """A call that does nothing: submitting it makes the executor start its process."""


def _warm(executor: ProcessPoolExecutor) -> None:
    executor.submit(_ready).result()


def _kill(executor: ProcessPoolExecutor) -> None:
    """SIGKILL the executor's processes: a process stuck in C code ignores anything gentler.

    ``ProcessPoolExecutor.kill_workers`` does this from Python 3.14; until then the
    executor's process table is the only handle on its processes.
    """
    for process in list(executor._processes.values()):
        if process.is_alive():
            process.kill()
    executor.shutdown(wait=False, cancel_futures=True)


def default_pool_size(workers: int) -> int:
    """One process per worker task, but never more than the machine has cores."""
    return max(1, min(workers, os.cpu_count() or 1))
