"""Complete answers to repeated JSON-RPC requests, kept while the site snapshot is the same."""

from __future__ import annotations

import time
from collections import OrderedDict

from s9reg.serve._wire import Request, Response, head_parts, http_date
from s9reg.serve.site import Snapshot

__all__ = [
    "ANSWER_CACHE_BYTES",
    "ANSWER_CACHE_ENTRIES",
    "CACHE_KEY_MAX",
    "Answer",
    "AnswerCache",
    "AnswerKey",
    "answer_key",
]

# Bounds of the cache of complete answers by exact request bytes.
ANSWER_CACHE_ENTRIES = 1024
ANSWER_CACHE_BYTES = 64 * 1024 * 1024
CACHE_KEY_MAX = 8 * 1024
_CACHE_ANSWER_MAX = 8 * 1024 * 1024


class Answer:
    """A complete HTTP answer to one exact request, kept by :class:`AnswerCache`."""

    __slots__ = ("after", "before", "counts", "data", "methods", "path", "second", "size")

    def __init__(self, request: Request, response: Response) -> None:
        before, after = head_parts(response, keep_alive=True)
        self.before = before + b"Date: "
        self.after = b"\r\n" + after + response.body
        self.path = request.path
        self.size = len(response.body)
        self.methods = response.rpc_methods
        self.counts = (("s9reg_http_responses_total", (str(response.status),)), *response.counts)
        self.second = -1
        self.data = b""

    def bytes(self) -> bytes:
        """The answer with the current ``Date``, assembled once per second."""
        second = int(time.time())
        if second != self.second:
            self.data = self.before + http_date().encode("latin-1") + self.after
            self.second = second
        return self.data


AnswerKey = bytes | tuple[str | bytes | None, ...]


def _cost(key: AnswerKey, answer: Answer) -> int:
    # Entries of one answer under two keys share its bytes; counting them twice is safe.
    size = len(key) if isinstance(key, bytes) else sum(len(k) for k in key if k is not None)
    return size + len(answer.before) + len(answer.after)


def answer_key(request: Request, body: bytes) -> tuple[str | bytes | None, ...] | None:
    """What a cacheable JSON-RPC answer depends on: path, body, device and CORS headers."""
    path = request.path
    if request.method != "POST" or not (path == "/rpc" or path.startswith("/rpc/")):
        return None
    headers = request.headers
    return (
        path,
        body,
        headers.get("x-startos-device-info"),
        headers.get("origin"),
        headers.get("access-control-request-method"),
        headers.get("access-control-request-headers"),
    )


class AnswerCache:
    """Complete answers to cacheable JSON-RPC requests, by the request's exact bytes.

    Devices and browsers repeat byte-identical requests (same head, same body), and while the
    snapshot is the same the answer to those bytes is the same: a hit skips parsing the head,
    the JSON body and the envelope. Bounded in entries and bytes (LRU); emptied when the
    snapshot changes. Only whole keep-alive ``POST`` requests of at most 8 KiB whose methods
    do not depend on the clock (everything but ``index``) are kept.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[AnswerKey, Answer] = OrderedDict()
        self._bytes = 0
        self._snapshot: Snapshot | None = None

    def get(self, key: AnswerKey, snapshot: Snapshot | None) -> Answer | None:
        """The answer kept for ``key`` under ``snapshot``; a new snapshot empties the cache."""
        if snapshot is not self._snapshot:
            self._items.clear()
            self._bytes = 0
            self._snapshot = snapshot
            return None
        answer = self._items.get(key)
        if answer is not None:
            self._items.move_to_end(key)
        return answer

    def put(self, key: AnswerKey, answer: Answer, snapshot: Snapshot | None) -> None:
        """Keep ``answer`` (unless too big or the snapshot changed), dropping the oldest."""
        if snapshot is not self._snapshot or answer.size > _CACHE_ANSWER_MAX:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= _cost(key, old)
        self._items[key] = answer
        self._bytes += _cost(key, answer)
        while len(self._items) > ANSWER_CACHE_ENTRIES or self._bytes > ANSWER_CACHE_BYTES:
            dropped_key, dropped = self._items.popitem(last=False)
            self._bytes -= _cost(dropped_key, dropped)

    def __len__(self) -> int:
        return len(self._items)
