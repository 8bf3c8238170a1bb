"""Where the tasks of a batch job run: local worker processes (the default) or a Ray cluster.

Both take tasks (a few consecutive listed files, see :mod:`.worker`) and hand back outcomes: the
task's rows, or why it produced none. The runner keeps order, writing and retries, so the two
engines give the same rows.

* :class:`LocalEngine`: ``workers`` processes forked from a fork server that imported the worker
  (torch, the front end) once, so a replacement of a killed worker is ready in milliseconds. Not
  forked from the runner itself: a process that has run torch holds an OpenMP thread pool, and a
  child forked from it deadlocks in its first parallel region. Each worker loads the checkpoint
  once and takes one task at a time over a pipe. A worker reports each file as it starts decoding,
  so a file that hangs the decoder (even inside C code) is known: after ``timeout_s`` the worker is
  killed and replaced, and the outcome names the file. A worker that dies (a decoder crash) is reported the same way.
* :class:`RayEngine`: one Ray task per task, ``num_cpus=1``, with the job's settings put once in the
  object store, two tasks in flight per CPU so a CPU never waits for the runner. A file that hangs
  is stopped inside the task by an alarm (``--timeout-s``); a task that outlives its deadline (which
  counts the task it may have queued behind) anyway is cancelled with ``force=True`` and reported without a culprit
  (the runner then retries its files one per task). ``address=None`` starts a local Ray on
  ``workers`` CPUs for the job; ``auto`` or ``ray://HOST:PORT`` joins a running cluster (whose
  workers must have spikestream installed).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import UsageError
from .listing import ListedInput
from .worker import JobSpec, loaded_model, run_task

RAY_START_GRACE_S = 60.0  # a fresh Ray worker imports torch and loads the checkpoint before its first task
INFERENCE_GRACE_S = 10.0


@dataclass
class Task:
    task_id: int
    items: list[ListedInput]


@dataclass
class Outcome:
    """A finished task: ``rows`` in the task's order, or ``None`` with the ``reason`` and, when known, the
    index of the file that caused it (``culprit``)."""

    task: Task
    rows: list[dict] | None
    reason: str | None = None
    culprit: int | None = None


class Engine(Protocol):
    capacity: int  # tasks the runner keeps in flight

    def submit(self, task: Task, urgent: bool = False) -> None: ...

    def wait(self, timeout_s: float) -> list[Outcome]: ...

    def close(self) -> None: ...


def local_worker_main(connection: multiprocessing.connection.Connection, spec: JobSpec) -> None:
    """A local worker's loop: load the model, then run tasks until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's: it stops the workers
    loaded_model(spec)
    connection.send(("ready", None, None))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        task_id, items = message
        rows = run_task(spec, items, lambda index, task_id=task_id: connection.send(("file", task_id, index)))
        connection.send(("done", task_id, rows))


@dataclass
class LocalWorker:
    process: Any
    connection: multiprocessing.connection.Connection
    ready: bool = False
    task: Task | None = None
    current: int | None = None  # index of the file being decoded, -1 during inference
    deadline: float = 0.0


@dataclass
class LocalEngine:
    """See the module docstring; ``timeout_s`` per file decode (inference: per task of files)."""

    spec: JobSpec
    workers: int
    timeout_s: float
    queue: deque = field(default_factory=deque)
    pool: list[LocalWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.capacity = 2 * self.workers
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload([__name__])
        self.pool = [self._start() for _ in range(self.workers)]

    def _start(self) -> LocalWorker:
        parent_end, child_end = self.context.Pipe(duplex=True)
        process = self.context.Process(target=local_worker_main, args=(child_end, self.spec), daemon=True)
        process.start()
        child_end.close()
        return LocalWorker(process, parent_end)

    def submit(self, task: Task, urgent: bool = False) -> None:
        (self.queue.appendleft if urgent else self.queue.append)(task)

    def _dispatch(self) -> None:
        for worker in self.pool:
            if worker.ready and worker.task is None and self.queue:
                worker.task = self.queue.popleft()
                worker.current, worker.deadline = None, time.monotonic() + self.timeout_s
                worker.connection.send((worker.task.task_id, worker.task.items))

    def _replace(self, worker: LocalWorker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.connection.close()
        self.pool[self.pool.index(worker)] = self._start()

    def _receive(self, worker: LocalWorker, outcomes: list[Outcome]) -> bool:
        """Read the worker's messages; False when its pipe closed."""
        try:
            while worker.connection.poll():
                kind, task_id, value = worker.connection.recv()
                if kind == "ready":
                    worker.ready = True
                elif kind == "file":
                    worker.current = value
                    files = len(worker.task.items) if worker.task else 1
                    budget_s = self.timeout_s if value >= 0 else self.timeout_s * files + INFERENCE_GRACE_S
                    worker.deadline = time.monotonic() + budget_s
                elif kind == "done":
                    outcomes.append(Outcome(worker.task, value))
                    worker.task = worker.current = None
        except (EOFError, OSError):
            return False
        return True

    def _failed(self, worker: LocalWorker, reason: str, outcomes: list[Outcome]) -> None:
        if not worker.ready:
            raise RuntimeError(f"a batch worker process failed to start ({reason}); see the messages above")
        if worker.task is not None:
            culprit = worker.current if worker.current is not None and worker.current >= 0 else None
            if culprit is None and worker.current is None:
                culprit = worker.task.items[0].index  # died or hung before its first report: the first file
            outcomes.append(Outcome(worker.task, None, reason, culprit))
        self._replace(worker)

    def wait(self, timeout_s: float) -> list[Outcome]:
        self._dispatch()
        handles = [worker.connection for worker in self.pool] + [worker.process.sentinel for worker in self.pool]
        multiprocessing.connection.wait(handles, timeout_s)
        outcomes: list[Outcome] = []
        now = time.monotonic()
        for worker in list(self.pool):
            alive = self._receive(worker, outcomes) and worker.process.is_alive()
            if not alive:
                worker.process.join()
                self._failed(worker, f"worker process died (exit code {worker.process.exitcode})", outcomes)
            elif worker.task is not None and now > worker.deadline:
                what = "inference" if worker.current == -1 else "decoding"
                self._failed(worker, f"timed out: {what} took longer than {self.timeout_s:g} s (--timeout-s)", outcomes)
        self._dispatch()
        return outcomes

    def close(self) -> None:
        for worker in self.pool:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in self.pool:
            worker.process.join(timeout=2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()


def ray_task(spec: JobSpec, items: list[ListedInput]) -> list[dict]:
    """The body of one Ray task (module level, so Ray workers import it by name)."""
    return run_task(spec, items)


class RayEngine:
    """See the module docstring."""

    def __init__(self, spec: JobSpec, workers: int, timeout_s: float, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--engine ray needs Ray: pip install 'spikestream[ray]' (or pip install ray)") from None
        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            settings: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address is None:
                settings.update(num_cpus=workers, object_store_memory=128 * 2**20)
            try:
                ray.init(address=address, **settings)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise UsageError(f"--address {address}: could not start or join Ray ({error})") from None
        cpus = int(ray.cluster_resources().get("CPU", workers))
        self.capacity = 2 * max(1, cpus if address is not None else workers)
        self.timeout_s = timeout_s
        self.spec_ref = ray.put(spec)
        self.remote = ray.remote(num_cpus=1, max_retries=0)(ray_task)
        self.running: dict[Any, tuple[Task, float]] = {}

    def submit(self, task: Task, urgent: bool = False) -> None:
        reference = self.remote.remote(self.spec_ref, task.items)
        self.running[reference] = (task, time.monotonic())

    def wait(self, timeout_s: float) -> list[Outcome]:
        outcomes: list[Outcome] = []
        if not self.running:
            time.sleep(timeout_s)
            return outcomes
        # back at the first finished task (the runner refills at once), then whatever else is done
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout_s)
        if ready and len(self.running) > 1:
            rest = [reference for reference in self.running if reference != ready[0]]
            ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for reference in ready:
            task, _ = self.running.pop(reference)
            try:
                outcomes.append(Outcome(task, self.ray.get(reference)))
            except Exception as error:  # a worker that died or raised: the runner retries its files alone
                outcomes.append(Outcome(task, None, f"Ray task failed ({type(error).__name__})"))
        now = time.monotonic()
        for reference, (task, submitted) in list(self.running.items()):
            if now - submitted > self.timeout_s * (2 * len(task.items) + 1) + RAY_START_GRACE_S:
                self.ray.cancel(reference, force=True)
                self.running.pop(reference)
                outcomes.append(
                    Outcome(task, None, f"timed out: longer than {self.timeout_s:g} s per file (--timeout-s)")
                )
        return outcomes

    def close(self) -> None:
        for reference in self.running:
            self.ray.cancel(reference, force=True)
        self.running.clear()
        if self.started_here:
            self.ray.shutdown()


def make_engine(name: str, spec: JobSpec, workers: int, timeout_s: float, address: str | None) -> Engine:
    """``local`` or ``ray`` (see the module docstring)."""
    if name == "ray":
        return RayEngine(spec, workers, timeout_s, address)
    return LocalEngine(spec, workers, timeout_s)
