"""Counters upstream keeps as metrics (requests per method, install requests, OS update checks).

Exposed in the Prometheus text format at ``GET /metrics``. No personal data is kept: no server
ids, keys or addresses, only label values taken from the index or a closed set, and the number
of series is capped so memory stays bounded.
"""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["MAX_SERIES", "Metrics"]

MAX_SERIES = 10_000
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
        }
        self._labels = {
            "s9reg_rpc_requests_total": ("method",),
            "s9reg_package_install_requests_total": ("package", "version"),
            "s9reg_os_update_checks_total": ("platform", "version"),
            "s9reg_http_responses_total": ("code",),
            "s9reg_site_refresh_failures_total": (),
        }
        self._help = {
            "s9reg_rpc_requests_total": "JSON-RPC calls by method.",
            "s9reg_package_install_requests_total": "package.get calls with an id and a "
            "targetVersion, by package and best version (as upstream's package_request).",
            "s9reg_os_update_checks_total": "os.version.get calls by platform and OS version.",
            "s9reg_http_responses_total": "HTTP responses by status code.",
            "s9reg_site_refresh_failures_total": "Failed checks of the site for changes.",
        }

    def inc(self, name: str, *labels: str) -> None:
        """Add one to a series; a new series beyond :data:`MAX_SERIES` counts as ``other``."""
        with self._lock:
            counter = self._counters[name]
            key = tuple(labels)
            if key not in counter and len(counter) >= MAX_SERIES:
                key = tuple(_OTHER for _ in labels)
            counter[key] += 1

    def value(self, name: str, *labels: str) -> int:
        """The current count of one series."""
        with self._lock:
            return self._counters[name][tuple(labels)]

    def render(self, revision: str | None) -> bytes:
        """All counters in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for name, counter in self._counters.items():
                lines.append(f"# HELP {name} {self._help[name]}")
                lines.append(f"# TYPE {name} counter")
                names = self._labels[name]
                if not names and not counter:
                    lines.append(f"{name} 0")
                for key, count in sorted(counter.items()):
                    if names:
                        pairs = ",".join(
                            f'{k}="{_escape(v)}"' for k, v in zip(names, key, strict=True)
                        )
                        lines.append(f"{name}{{{pairs}}} {count}")
                    else:
                        lines.append(f"{name} {count}")
        lines.append("# HELP s9reg_site_info The revision of the loaded index.")
        lines.append("# TYPE s9reg_site_info gauge")
        lines.append(f's9reg_site_info{{revision="{_escape(revision or "")}"}} 1')
        return ("\n".join(lines) + "\n").encode()
