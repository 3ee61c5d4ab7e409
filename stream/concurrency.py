"""read → process → write with bounded queues: decoding and encoding run in their own threads
(PyAV releases the GIL while it works), the face work stays on the calling thread, so the
stateful tracker needs no locks and memory stays flat however long the input is."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Reader(Generic[In]):
    """Pull items from an iterable in a background thread into a bounded queue."""

    def __init__(self, items: Iterable[In], size: int = 8) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(items,), name="faceanon-reader", daemon=True
        )
        self._thread.start()

    def _run(self, items: Iterable[In]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, re-raised there
            self._put(_Failure(error))

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[In]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Writer(Generic[Out]):
    """Hand items to `write` in a background thread through a bounded queue."""

    def __init__(self, write: Callable[[Out], None], size: int = 8) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._error: BaseException | None = None
        self._aborted = False
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="faceanon-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None and not self._aborted:
                try:
                    self._write(item)
                except BaseException as error:
                    self._error = error

    def put(self, item: Out) -> None:
        self._raise_if_failed()
        self._queue.put(item)

    def finish(self) -> None:
        """Wait until everything queued is written; re-raise a failure of the writer."""
        self._finished = True
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Drop what is still queued and stop the thread (after a failure elsewhere)."""
        if self._finished:
            return
        self._aborted = self._finished = True
        self._queue.put(_DONE)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


def run_pipelined(
    items: Iterable[In],
    process: Callable[[In], Out],
    write: Callable[[Out], None],
    on_item: Callable[[In, Out], None] | None = None,
    size: int = 8,
) -> int:
    """Read in one thread, `process` here, `write` in another; return how many items went
    through. An exception anywhere stops all three and is raised here."""
    reader: Reader[In] = Reader(items, size)
    writer: Writer[Out] = Writer(write, size)
    count = 0
    try:
        for item in reader:
            result = process(item)
            writer.put(result)
            if on_item is not None:
                on_item(item, result)
            count += 1
        writer.finish()
    finally:
        writer.abort()
        reader.close()
    return count
