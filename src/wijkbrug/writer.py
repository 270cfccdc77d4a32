"""The stream's ledger writer: a planned batch into the ledger, then its partner-topic records out.

The stream worker decodes, plans and commits offsets; the writer takes each planned batch,
writes it to the ledger in one transaction (queued, its partner-topic rows claimed as leaving)
and says so, then produces those rows to the partner topics from memory and marks them
delivered. The worker commits a batch's offsets only after the writer said the batch is in the
ledger, and waits for the writer to be idle (:meth:`barrier`) before anything else touches
the ledger's state of deliveries: a consent event, a take-over, a revocation, the end.

The same code runs two ways:

- :class:`InlineWriter`, in the worker's own thread: tests that step a worker see each batch
  delivered when ``step()`` returns;
- :class:`ProcessWriter`, in a child process (``wijkbrug stream``): one Python process runs
  one thread at a time, so writing and sending batch N in the child overlaps planning batch
  N+1 in the worker, on a second core. The child dies with the worker (``PR_SET_PDEATHSIG``,
  and end of file on its pipe); a child that dies stops the worker with an error. Either way a
  restart resumes from the committed offsets and the ledger: nothing lost, nothing twice.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from wijkbrug import kafka_client, logs
from wijkbrug.channels import partner_topics, produce_delivery
from wijkbrug.ledger import Delivery, Ledger
from wijkbrug.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "kafka"
#: Pipe capacity asked for (Linux allows up to ``/proc/sys/fs/pipe-max-size``, 1 MiB by
#: default): a planned batch then fits without the worker waiting for the child to read it.
PIPE_BYTES = 1 << 20
_FRAME = struct.Struct("!I")


class WriterFailed(RuntimeError):
    """The ledger writer stopped: the worker stops too, and a restart resumes."""


@dataclass
class Outcome:
    """What the writer did since it was last asked (the worker folds it into its stats)."""

    inserted: int = 0
    held: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    #: Claimed rows whose send failed: the worker reconciles and sends them from the ledger.
    unsent: bool = False

    def add(self, other: Outcome) -> None:
        self.inserted += other.inserted
        self.held += other.held
        self.delivered.update(other.delivered)
        self.unsent = self.unsent or other.unsent


class BatchWriter:
    """Writes one batch to the ledger, then sends its partner-topic rows: the writer's work."""

    def __init__(self, settings: Settings, ledger: Ledger, publisher: kafka_client.Publisher):
        self.ledger = ledger
        self.publisher = publisher
        self._topics = partner_topics(settings)

    def __call__(self, items: Sequence[Delivery], held: Sequence[dict[str, Any]]) -> Outcome:
        outcome, claimed = self.write(items, held)
        self.send(items, claimed, outcome)
        return outcome

    def write(
        self, items: Sequence[Delivery], held: Sequence[dict[str, Any]]
    ) -> tuple[Outcome, list[tuple[int, str, str]]]:
        """The batch into the ledger, its partner-topic rows claimed: (outcome so far, claimed)."""
        inserted, claimed = self.ledger.write_batch(items, held, claim=CHANNEL)
        return Outcome(inserted=inserted, held=len(held)), claimed

    def send(
        self, items: Sequence[Delivery], claimed: list[tuple[int, str, str]], outcome: Outcome
    ) -> None:
        """Produce the claimed rows in ledger order, wait for the broker, mark them delivered.

        A failure leaves them queued again for the worker's own sender, which first looks on
        the partner topics for what did arrive (:meth:`KafkaTopicChannel.reconcile`)."""
        if not claimed:
            return
        by_key = {(d.event_id, d.partner): d for d in items if d.channel == CHANNEL}
        claimed = sorted(claimed)
        try:
            for _, event_id, partner in claimed:
                item = by_key[(event_id, partner)]
                produce_delivery(
                    self.publisher,
                    self._topics[partner],
                    event_id,
                    item.kind,
                    item.unit_partition,
                    item.payload,
                )
            self.publisher.flush()  # raises if the broker did not acknowledge
        except kafka_client.KafkaError as error:
            log.warning("partner topic send failed (%s); the worker retries", type(error).__name__)
            self.ledger.requeue([row_id for row_id, _, _ in claimed])
            outcome.unsent = True
            return
        self.ledger.mark_delivered([row_id for row_id, _, _ in claimed])
        outcome.delivered.update(partner for _, _, partner in claimed)


class InlineWriter:
    """The writer in the worker's own thread: each batch is written and sent at once."""

    def __init__(self, write: BatchWriter) -> None:
        self._write = write
        self._outcome = Outcome()
        self._batches = 0

    def submit(self, items: Sequence[Delivery], held: Sequence[dict[str, Any]]) -> int:
        self._outcome.add(self._write(items, held))
        self._batches += 1
        return self._batches

    def written(self) -> int:
        """The number of the last batch that is in the ledger (all of them, here)."""
        return self._batches

    def wait_written(self, batch: int) -> None:
        """Return once batch ``batch`` is in the ledger."""

    def barrier(self) -> None:
        """Return once every batch is written and sent."""

    def take(self) -> Outcome:
        outcome, self._outcome = self._outcome, Outcome()
        return outcome

    def alive(self) -> bool:
        """Always: it runs in the worker's own thread (health checks ask every writer)."""
        return True

    def close(self) -> None:
        """Nothing runs on its own here."""


class ProcessWriter:
    """The writer in a child process (``python -m wijkbrug.writer``), fed over a pipe.

    Thread-safe: the worker's revocation callback (the Kafka client's network thread) calls
    :meth:`barrier` too."""

    def __init__(self, settings: Settings, *, start_timeout_s: float = 120.0) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        for fd in (to_child_w, from_child_w):
            _widen(fd)
        self._child = subprocess.Popen(
            [sys.executable, "-m", "wijkbrug.writer", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._out: BinaryIO = os.fdopen(to_child_w, "wb", buffering=0)
        self._in: BinaryIO = os.fdopen(from_child_r, "rb", buffering=0)  # select() sees all
        self._lock = threading.RLock()
        self._outcome = Outcome()
        self._submitted = 0
        self._written = 0
        self._sent = 0
        self._barriers = 0
        self._idle_at = 0
        self._closed = False
        self._ready = False
        _send(self._out, ("settings", settings))
        if not self._receive(lambda: self._ready, timeout_s=start_timeout_s):
            self.close(timeout_s=5)
            raise WriterFailed("ledger writer did not start")

    @property
    def pid(self) -> int:
        """The child's process id (benchmarks count its CPU time)."""
        return self._child.pid

    def alive(self) -> bool:
        """Whether the child process is still running (any thread may ask: health checks)."""
        return self._child.poll() is None

    def submit(self, items: Sequence[Delivery], held: Sequence[dict[str, Any]]) -> int:
        with self._lock:
            self._submitted += 1
            self._put(("batch", self._submitted, list(items), list(held)))
            return self._submitted

    def written(self) -> int:
        with self._lock:
            self._receive(lambda: False, timeout_s=0)  # what has arrived, without waiting
            return self._written

    def wait_written(self, batch: int) -> None:
        with self._lock:
            self._receive(lambda: self._written >= batch)

    def barrier(self) -> None:
        with self._lock:
            if self._closed or self._sent >= self._submitted:
                return
            self._barriers += 1
            self._put(("barrier", self._barriers))
            target = self._barriers
            self._receive(lambda: self._idle_at >= target)

    def take(self) -> Outcome:
        with self._lock:
            self._receive(lambda: False, timeout_s=0)
            outcome, self._outcome = self._outcome, Outcome()
            return outcome

    def close(self, timeout_s: float = 60.0) -> None:
        """Everything submitted is written and sent; then the child ends."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._child.poll() is None:
                    self.barrier()
                    _send(self._out, ("stop",))
            except (WriterFailed, OSError):
                pass
            finally:
                self._out.close()
                try:
                    self._child.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self._child.kill()
                    self._child.wait()
                self._in.close()

    # -- the pipe ------------------------------------------------------------------------------

    def _put(self, message: tuple) -> None:
        try:
            _send(self._out, message)
        except (BrokenPipeError, OSError) as error:
            raise WriterFailed(f"ledger writer gone ({type(error).__name__})") from None

    def _receive(self, done: Callable[[], bool], *, timeout_s: float | None = None) -> bool:
        """Read the child's replies until ``done()``; with ``timeout_s``, stop (False) when none
        arrives within it. Raises :class:`WriterFailed` if the child reports an error or dies."""
        while not done():
            ready, _, _ = select.select([self._in], [], [], timeout_s)
            if not ready:
                if timeout_s is None:
                    continue
                return False
            message = _recv(self._in)
            if message is None:
                code = self._child.wait()
                raise WriterFailed(f"ledger writer ended (exit {code})")
            kind = message[0]
            if kind == "ready":
                self._ready = True
            elif kind == "written":
                self._written = message[1]
            elif kind == "sent":
                self._sent = message[1]
                self._outcome.add(message[2])
            elif kind == "idle":
                self._idle_at = message[1]
            elif kind == "error":
                raise WriterFailed(f"ledger writer failed: {message[1]}")
        return True


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError):  # a lower pipe-max-size only costs some waiting
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _send(stream: BinaryIO, message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_FRAME.pack(len(data)) + data)
    while view:
        view = view[stream.write(view) :]


def _recv(stream: BinaryIO) -> Any:
    """One message, or None at the end of the pipe."""
    head = _read_exactly(stream, _FRAME.size)
    if head is None:
        return None
    data = _read_exactly(stream, _FRAME.unpack(head)[0])
    if data is None:
        return None
    return pickle.loads(data)  # our own parent, over a pipe only it holds


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- the child ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the worker that started it dies (kill -9)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere: the end of the pipe still ends the child
    if os.getppid() != parent:
        os._exit(1)


def serve(read_fd: int, write_fd: int) -> int:
    """The child's loop: batches in, replies out, until ``stop`` or the end of the pipe."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker drains and then stops us
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inbox = os.fdopen(read_fd, "rb")
    outbox = os.fdopen(write_fd, "wb", buffering=0)
    first = _recv(inbox)
    if first is None or first[0] != "settings":
        return 1
    settings: Settings = first[1]
    logs.configure(settings.log_format, logging.WARNING)  # the worker's format, not the env's
    ledger = Ledger(settings.ledger(), create=False, checkpoint_in_background=True)
    publisher = kafka_client.Publisher(settings)
    write = BatchWriter(settings, ledger, publisher)
    _send(outbox, ("ready",))
    try:
        while (message := _recv(inbox)) is not None:
            kind = message[0]
            if kind == "batch":
                _, number, items, held = message
                outcome = _write_and_send(write, outbox, number, items, held)
                _send(outbox, ("sent", number, outcome))
            elif kind == "barrier":
                _send(outbox, ("idle", message[1]))
            elif kind == "stop":
                break
    except Exception as error:  # report the kind only: messages may quote ledger values
        log.error("ledger writer failed: %s", type(error).__name__, exc_info=True)
        with contextlib.suppress(OSError):
            _send(outbox, ("error", type(error).__name__))
        return 1
    finally:
        publisher.close()
        ledger.close()
    return 0


def _write_and_send(
    write: BatchWriter, outbox: BinaryIO, number: int, items: list, held: list
) -> Outcome:
    outcome, claimed = write.write(items, held)
    _send(outbox, ("written", number))  # the worker may commit this batch's offsets now
    write.send(items, claimed, outcome)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wijkbrug.writer")
    parser.add_argument("read_fd", type=int)
    parser.add_argument("write_fd", type=int)
    args = parser.parse_args(argv)
    logs.configure("json", logging.WARNING)  # until the worker's settings arrive (serve)
    return serve(args.read_fd, args.write_fd)


if __name__ == "__main__":
    # Run as ``python -m``: serve from the module under its own name, so the replies pickle
    # their classes as ``wijkbrug.writer.*`` and not as ``__main__.*``.
    from wijkbrug import writer

    sys.exit(writer.main())
