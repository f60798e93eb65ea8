"""Counters upstream keeps as metrics (requests per method, install requests, OS update checks).

Exposed in the Prometheus text format at ``GET /metrics``. No personal data is kept: no server
ids, keys or addresses, only label values taken from the index or a closed set, and the number
of series is capped so memory stays bounded. Worker processes (``--workers``) each keep their
own counters and publish them as a JSON snapshot in a directory they share
(:class:`SharedMetrics`), so that ``/metrics`` from any worker shows the sums of all of them,
dead ones included: the counters stay monotonic whichever worker a scrape reaches.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["MAX_SERIES", "Metrics", "SharedMetrics"]

MAX_SERIES = 10_000
Snapshot = dict[str, list[list[str | int]]]
"""Counters as JSON: ``{name: [[label…, count], …]}``."""
_OTHER = "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Thread-safe counters with capped label sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counter[tuple[str, ...]]] = {
            "s9reg_rpc_requests_total": Counter(),
            "s9reg_package_install_requests_total": Counter(),
            "s9reg_os_update_checks_total": Counter(),
            "s9reg_http_responses_total": Counter(),
            "s9reg_site_refresh_failures_total": Counter(),
            "s9reg_connections_dropped_total": Counter(),
        }
        self._labels = {
            "s9reg_rpc_requests_total": ("method",),
            "s9reg_package_install_requests_total": ("package", "version"),
            "s9reg_os_update_checks_total": ("platform", "version"),
            "s9reg_http_responses_total": ("code",),
            "s9reg_site_refresh_failures_total": (),
            "s9reg_connections_dropped_total": ("reason",),
        }
        self.changes = 0  # bumped by every inc(), so a snapshot is written only when needed
        self._help = {
            "s9reg_rpc_requests_total": "JSON-RPC calls by method.",
            "s9reg_package_install_requests_total": "package.get calls with an id and a "
            "targetVersion, by package and best version (as upstream's package_request).",
            "s9reg_os_update_checks_total": "os.version.get calls by platform and OS version.",
            "s9reg_http_responses_total": "HTTP responses by status code.",
            "s9reg_site_refresh_failures_total": "Failed checks of the site for changes.",
            "s9reg_connections_dropped_total": "Connections refused or dropped by the caps: "
            "per_client_cap (refused), cap_shed (an unanswered one dropped for a new client), "
            "cap_refused (every connection busy).",
        }

    def inc(self, name: str, *labels: str) -> None:
        """Add one to a series; a new series beyond :data:`MAX_SERIES` counts as ``other``."""
        with self._lock:
            self.changes += 1
            counter = self._counters[name]
            key = tuple(labels)
            if key not in counter and len(counter) >= MAX_SERIES:
                key = tuple(_OTHER for _ in labels)
            counter[key] += 1

    def value(self, name: str, *labels: str) -> int:
        """The current count of one series."""
        with self._lock:
            return self._counters[name][tuple(labels)]

    def snapshot(self) -> Snapshot:
        """The counters as JSON: ``{name: [[label…, count], …]}``."""
        with self._lock:
            return {
                name: [[*key, count] for key, count in sorted(counter.items())]
                for name, counter in self._counters.items()
            }

    def render(self, revision: str | None, others: Sequence[Mapping[str, object]] = ()) -> bytes:
        """All counters in the Prometheus text exposition format (version 0.0.4).

        Args:
            revision: the loaded index's revision.
            others: snapshots of other processes' counters to add in (malformed rows are
                skipped).
        """
        with self._lock:
            totals = {name: Counter(counter) for name, counter in self._counters.items()}
        for snap in others:
            for name, rows in snap.items():
                if name in totals:
                    for key, count in _rows(rows, len(self._labels[name])):
                        totals[name][key] += count
        lines: list[str] = []
        for name, counter in totals.items():
            lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} counter")
            names = self._labels[name]
            if not names and not counter:
                lines.append(f"{name} 0")
            for key, count in sorted(counter.items()):
                if names:
                    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(names, key, strict=True))
                    lines.append(f"{name}{{{pairs}}} {count}")
                else:
                    lines.append(f"{name} {count}")
        lines.append("# HELP s9reg_site_info The revision of the loaded index.")
        lines.append("# TYPE s9reg_site_info gauge")
        lines.append(f's9reg_site_info{{revision="{_escape(revision or "")}"}} 1')
        return ("\n".join(lines) + "\n").encode()


def _rows(rows: object, labels: int) -> Iterator[tuple[tuple[str, ...], int]]:
    """The well-formed ``[label…, count]`` rows of another process's snapshot."""
    if not isinstance(rows, list):
        return
    for row in rows:
        if (
            isinstance(row, list)
            and len(row) == labels + 1
            and all(isinstance(v, str) for v in row[:-1])
            and isinstance(row[-1], int)
            and not isinstance(row[-1], bool)
            and row[-1] >= 0
        ):
            yield tuple(row[:-1]), row[-1]


class SharedMetrics:
    """One worker's view of the metrics directory the workers share.

    Args:
        directory: the directory (made by the supervisor, removed when it stops).
        metrics: this worker's counters.
    """

    def __init__(self, directory: Path, metrics: Metrics) -> None:
        self.directory = directory
        self.metrics = metrics
        self.own = directory / f"{os.getpid()}.json"
        self._written = -1

    def publish(self) -> None:
        """Write this worker's snapshot if it changed since the last write (atomically)."""
        changes = self.metrics.changes
        if changes == self._written:
            return
        tmp = self.own.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self.metrics.snapshot()), encoding="utf-8")
            tmp.replace(self.own)
            self._written = changes

    def others(self) -> list[Mapping[str, object]]:
        """The last snapshots of every other worker, live or dead."""
        out: list[Mapping[str, object]] = []
        try:
            paths = sorted(self.directory.glob("*.json"))
        except OSError:
            return []
        for path in paths:
            if path == self.own:
                continue
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    out.append(data)
        return out
