"""SVG icons made safe to open on the registry's own origin: an allow-list, rebuilt from scratch.

Package icons are published as ``_icons/<sha256>.svg``. In an ``<img>`` a browser runs no script
of an SVG, but opened directly (a link, a new tab) the SVG is a document of the registry's origin.
:func:`sanitize_svg` parses the icon with expat (no DTD: a ``DOCTYPE`` or entity is refused, so
nothing is expanded or fetched) and writes a new document holding only drawing elements and
presentation attributes of the SVG namespace: no ``script``, ``foreignObject``, event handlers,
links, animation, or reference to anything outside the icon (``href`` only to ``#id`` and to
embedded raster images; ``url()`` only to ``#id``; no CSS ``@import``). It reads no file and
sends nothing: bytes in, bytes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

__all__ = ["MAX_SVG", "SvgError", "sanitize_svg"]

MAX_SVG = 1024 * 1024  # an icon larger than this is not an icon
_MAX_DEPTH = 64
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "title", "desc", "symbol", "use", "switch",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker",
        "image", "style",
        "filter", "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite",
        "feConvolveMatrix", "feDiffuseLighting", "feDisplacementMap", "feDistantLight",
        "feDropShadow", "feFlood", "feFuncA", "feFuncB", "feFuncG", "feFuncR",
        "feGaussianBlur", "feMerge", "feMergeNode", "feMorphology", "feOffset",
        "fePointLight", "feSpecularLighting", "feSpotLight", "feTile", "feTurbulence",
    }
)  # fmt: skip
# Geometry, presentation and gradient/filter attributes (SVG 1.1/2), none of which can run
# script or load anything except through url(), which is checked.
_ATTRIBUTES = frozenset(
    {
        "id", "class", "style", "lang", "version", "viewBox", "preserveAspectRatio",
        "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry",
        "fx", "fy", "fr", "d", "points", "pathLength", "transform", "dx", "dy", "rotate",
        "textLength", "lengthAdjust", "startOffset", "method", "spacing", "side",
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
        "stroke-dashoffset", "opacity", "color", "display", "visibility", "overflow",
        "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits",
        "filter", "filterUnits", "primitiveUnits", "flood-color", "flood-opacity",
        "stop-color", "stop-opacity", "offset", "gradientUnits", "gradientTransform",
        "spreadMethod", "patternUnits", "patternContentUnits", "patternTransform",
        "marker-start", "marker-mid", "marker-end", "markerWidth", "markerHeight",
        "markerUnits", "refX", "refY", "orient", "vector-effect", "paint-order",
        "shape-rendering", "color-interpolation", "color-interpolation-filters",
        "image-rendering", "text-rendering", "mix-blend-mode", "isolation",
        "font-family", "font-size", "font-style", "font-weight", "font-variant",
        "font-stretch", "letter-spacing", "word-spacing", "text-anchor", "text-decoration",
        "dominant-baseline", "alignment-baseline", "baseline-shift", "writing-mode",
        "direction", "unicode-bidi", "white-space",
        "in", "in2", "result", "stdDeviation", "mode", "type", "values", "operator",
        "k1", "k2", "k3", "k4", "order", "kernelMatrix", "divisor", "bias", "targetX",
        "targetY", "edgeMode", "preserveAlpha", "surfaceScale", "diffuseConstant",
        "specularConstant", "specularExponent", "kernelUnitLength", "lighting-color",
        "azimuth", "elevation", "z", "pointsAtX", "pointsAtY", "pointsAtZ",
        "limitingConeAngle", "scale", "xChannelSelector", "yChannelSelector", "radius",
        "baseFrequency", "numOctaves", "seed", "stitchTiles", "tableValues", "slope",
        "intercept", "amplitude", "exponent", "requiredFeatures", "systemLanguage",
    }
)  # fmt: skip
_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|avif);base64,[A-Za-z0-9+/=\s]*")
_BAD_CSS = re.compile(
    r"@import|@font-face|image-set|src\s*:|expression\s*\(|javascript:|behavior\s*:|-moz-binding",
    re.IGNORECASE,
)


class SvgError(ValueError):
    """The icon is not an SVG document this sanitizer accepts (not XML, a DTD, too big)."""


def _safe_css(text: str) -> bool:
    """CSS that loads nothing: no ``@import``, and ``url()`` only to ``#id`` in this icon."""
    if _BAD_CSS.search(text) or "\\" in text:  # escapes could spell any of it
        return False
    return all(m.group(2).strip().startswith("#") for m in _URL.finditer(text))


def _safe_value(name: str, value: str, element: str) -> bool:
    if name == "href":
        if element == "image":
            return _DATA_IMAGE.fullmatch(value.strip()) is not None
        return value.strip().startswith("#")
    if name == "style" or "url(" in value.lower():
        return _safe_css(value)
    return "javascript:" not in value.lower()


def _escape(text: str, *, quote: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


@dataclass
class _Node:
    name: str
    attrs: list[tuple[str, str]]
    children: list[_Node | str] = field(default_factory=list)

    def write(self, out: list[str]) -> None:
        if self.name == "style":  # CSS is kept only as a whole, when it loads nothing
            css = "".join(c for c in self.children if isinstance(c, str))
            if not _safe_css(css):
                return
        out.append(f"<{self.name}")
        for key, value in self.attrs:
            out.append(f' {key}="{_escape(value, quote=True)}"')
        if not self.children:
            out.append("/>")
            return
        out.append(">")
        for child in self.children:
            if isinstance(child, str):
                out.append(_escape(child, quote=False))
            else:
                child.write(out)
        out.append(f"</{self.name}>")


class _Sanitizer:
    def __init__(self) -> None:
        self.root: _Node | None = None
        self.stack: list[_Node | None] = []  # None: inside a dropped element

    def start(self, qname: str, attrs: dict[str, str]) -> None:
        if len(self.stack) >= _MAX_DEPTH:
            raise SvgError(f"elements nested deeper than {_MAX_DEPTH}")
        ns, _, name = qname.rpartition(" ")
        parent_dropped = bool(self.stack) and self.stack[-1] is None
        wrong_root = self.root is None and name != "svg"
        if parent_dropped or wrong_root or ns != SVG_NS or name not in _ELEMENTS:
            self.stack.append(None)
            return
        kept: list[tuple[str, str]] = []
        for key, value in attrs.items():
            ans, _, local = key.rpartition(" ")
            if local == "href" and ans in {"", XLINK_NS}:
                if name not in {"use", "image", "textPath"}:
                    continue
            elif ans == XML_NS and local in {"lang", "space"}:
                local = f"xml:{local}"
            elif ans or local.lower().startswith("on") or local not in _ATTRIBUTES:
                continue
            if _safe_value(local, value, name):
                kept.append((local, value))
        node = _Node(name, sorted(kept))
        if self.root is None:
            self.root = node
        else:
            parent = self.stack[-1]
            if parent is not None:
                parent.children.append(node)
        self.stack.append(node)

    def end(self, _qname: str) -> None:
        self.stack.pop()

    def text(self, data: str) -> None:
        if self.stack and self.stack[-1] is not None:
            self.stack[-1].children.append(data)


def _refuse_dtd(*_args: object) -> None:
    raise SvgError("a DOCTYPE or entity declaration")


def sanitize_svg(data: bytes) -> bytes:
    """The icon rebuilt from its allowed elements and attributes, as UTF-8 SVG.

    Raises:
        SvgError: not well-formed XML, a DTD or entity declaration, no ``<svg>`` root in the
            SVG namespace, nesting deeper than 64, or more than :data:`MAX_SVG` bytes.
    """
    if len(data) > MAX_SVG:
        raise SvgError(f"larger than {MAX_SVG} bytes")
    sanitizer = _Sanitizer()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd  # type: ignore[assignment]
    parser.StartElementHandler = sanitizer.start
    parser.EndElementHandler = sanitizer.end
    parser.CharacterDataHandler = sanitizer.text
    try:
        parser.Parse(data, True)  # noqa: FBT003 - isfinal is positional-only
    except expat.ExpatError as e:
        raise SvgError(f"not well-formed XML: {e}") from None
    root = sanitizer.root
    if root is None:
        raise SvgError("no <svg> element in the SVG namespace")
    out: list[str] = []
    _Node("svg", [("xmlns", SVG_NS), *root.attrs], root.children).write(out)
    return "".join(out).encode() + b"\n"
