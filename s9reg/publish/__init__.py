"""Publish a built site to a local directory or S3-compatible storage (publishing-lessons.md).

Uploads in phase order, detects changes from s9reg's own manifest (never mtimes or ETags),
moves one pointer with conditional writes, and deletes late. Example::

    from s9reg.publish import PublishSettings, S3Settings, publish_site

    report = publish_site(PublishSettings(site=Path("_site"), target=S3Settings(bucket="b")))
    print(len(report.uploads), report.generation)

``publish_files`` adds ``.s9pk`` files to a published registry without its sources.
boto3 is imported only when an S3 target is opened.
"""

from __future__ import annotations

from s9reg.publish.audit import AuditProblem, AuditReport, audit_published
from s9reg.publish.engine import (
    Action,
    LocalObject,
    PlanItem,
    PublishProgress,
    PublishReport,
    open_target,
    publish_site,
    scan_site,
)
from s9reg.publish.errors import PublishConflictError, PublishError, StorageError
from s9reg.publish.freshness import stale_reason
from s9reg.publish.overlay import (
    OverlayReport,
    PublishedIndex,
    live_index,
    publish_files,
    read_live_index,
    read_published_index,
)
from s9reg.publish.policy import ObjectHeaders, Phase, classify
from s9reg.publish.settings import DirSettings, PublishSettings, S3Settings
from s9reg.publish.target import DirTarget, Target

__all__ = [
    "Action",
    "AuditProblem",
    "AuditReport",
    "DirSettings",
    "DirTarget",
    "LocalObject",
    "ObjectHeaders",
    "OverlayReport",
    "Phase",
    "PlanItem",
    "PublishConflictError",
    "PublishError",
    "PublishProgress",
    "PublishReport",
    "PublishSettings",
    "PublishedIndex",
    "S3Settings",
    "StorageError",
    "Target",
    "audit_published",
    "classify",
    "live_index",
    "open_target",
    "publish_files",
    "publish_site",
    "read_live_index",
    "read_published_index",
    "scan_site",
    "stale_reason",
]
