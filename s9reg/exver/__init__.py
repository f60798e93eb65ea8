"""StartOS version semantics: versions, extended versions and version ranges.

Follows the Rust ``exver`` crate that the StartOS registry server runs (``shared/spec/
s9pk-format.md`` §11.3); ``shared/spec/exver-notes.md`` lists where the JS library in
``@start9labs/start-sdk`` differs. Pure Python, no I/O. Example::

    >>> from s9reg.exver import ExtendedVersion, VersionRange
    >>> r = VersionRange.parse("^27 || #knots")
    >>> str(r)
    '(>=27:0 <28:0) || (#knots)'
    >>> r.satisfied_by(ExtendedVersion.parse("27.1:2"))
    True
    >>> r.satisfied_by(ExtendedVersion.parse("#knots:29.1:0"))
    True
    >>> ExtendedVersion.parse("1.0:0") == ExtendedVersion.parse("1:0")
    True
    >>> print(ExtendedVersion.parse("#knots:1:0").compare(ExtendedVersion.parse("1:0")))
    None
"""

from __future__ import annotations

from s9reg.exver._range import (
    MAX_RANGE_DEPTH,
    Anchor,
    And,
    AnyVersion,
    Flavor,
    Not,
    NoVersion,
    Op,
    Or,
    VersionRange,
)
from s9reg.exver._version import (
    USIZE_MAX,
    ExtendedVersion,
    PreReleaseSegment,
    Version,
    VersionString,
    compare,
)
from s9reg.exver.errors import VersionError

__all__ = [
    "MAX_RANGE_DEPTH",
    "USIZE_MAX",
    "Anchor",
    "And",
    "AnyVersion",
    "ExtendedVersion",
    "Flavor",
    "NoVersion",
    "Not",
    "Op",
    "Or",
    "PreReleaseSegment",
    "Version",
    "VersionError",
    "VersionRange",
    "VersionString",
    "compare",
]
