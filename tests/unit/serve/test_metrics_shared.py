"""Counters shared by worker processes: sums over every snapshot, malformed ones ignored."""

from __future__ import annotations

import json
from pathlib import Path

from s9reg.serve.metrics import Metrics, SharedMetrics


def test_render_adds_other_snapshots_and_skips_malformed_rows(tmp_path: Path) -> None:
    mine = Metrics()
    mine.inc("s9reg_rpc_requests_total", "info")
    other = Metrics()
    for _ in range(3):
        other.inc("s9reg_rpc_requests_total", "info")
    other.inc("s9reg_package_install_requests_total", "hello", "1.0.0:0")
    bad = {
        "s9reg_rpc_requests_total": [
            ["info", -5],
            ["info", "7"],
            ["a", "b", 1],
            "x",
            ["info", True],
        ],
        "not_a_metric": [["x", 1]],
        "s9reg_http_responses_total": "nope",
    }
    text = mine.render("r1", [other.snapshot(), bad]).decode()
    assert 's9reg_rpc_requests_total{method="info"} 4\n' in text
    assert 's9reg_package_install_requests_total{package="hello",version="1.0.0:0"} 1\n' in text
    assert "not_a_metric" not in text
    assert 's9reg_site_info{revision="r1"} 1' in text


def test_shared_directory_round_trip(tmp_path: Path) -> None:
    mine = Metrics()
    shared = SharedMetrics(tmp_path, mine)
    shared.publish()
    first = shared.own.stat().st_mtime_ns
    shared.publish()  # unchanged: not written again
    assert shared.own.stat().st_mtime_ns == first
    mine.inc("s9reg_site_refresh_failures_total")
    shared.publish()
    assert json.loads(shared.own.read_text())["s9reg_site_refresh_failures_total"] == [[1]]
    (tmp_path / "123.json").write_text(json.dumps(Metrics().snapshot()), encoding="utf-8")
    (tmp_path / "124.json").write_text("{not json", encoding="utf-8")
    assert len(shared.others()) == 1  # itself and the unreadable one are left out
