"""WCAG AA contrast of the stylesheet's colour pairs, in light and dark mode (WCAG 2.1 §1.4.3)."""

from __future__ import annotations

import re

import pytest

from s9reg.catalogue import template_dirs

# (foreground, background, minimum ratio): 4.5 for text, 3 for focus rings and borders of controls.
PAIRS = [
    ("fg", "bg", 4.5),
    ("muted", "bg", 4.5),
    ("link", "bg", 4.5),
    ("fg", "surface", 4.5),
    ("muted", "surface", 4.5),
    ("link", "surface", 4.5),
    ("chip-fg", "chip-bg", 4.5),
    ("ok-fg", "ok-bg", 4.5),
    ("warn-fg", "warn-bg", 4.5),
    ("focus", "bg", 3.0),
    ("focus", "surface", 3.0),
    ("muted", "bg", 3.0),  # input borders use --muted
]


def _palettes() -> dict[str, dict[str, str]]:
    css = (template_dirs()[-1] / "static" / "s9reg.css").read_text()
    light = re.search(r":root\s*\{(.*?)\}", css, re.DOTALL)
    dark = re.search(r"prefers-color-scheme:\s*dark\)\s*\{\s*:root\s*\{(.*?)\}", css, re.DOTALL)
    assert light is not None
    assert dark is not None

    def variables(block: str) -> dict[str, str]:
        return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", block))

    return {"light": variables(light.group(1)), "dark": variables(dark.group(1))}


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    ("fg", "bg", "minimum"), [pytest.param(*p, id=f"{p[0]} on {p[1]}") for p in PAIRS]
)
def test_colour_pairs_meet_wcag_aa(scheme: str, fg: str, bg: str, minimum: float) -> None:
    palette = _palettes()[scheme]
    ratio = contrast(palette[fg], palette[bg])
    assert ratio >= minimum, f"{scheme}: --{fg} on --{bg} is {ratio:.2f}:1"


def test_both_schemes_define_the_same_colours() -> None:
    palettes = _palettes()
    assert set(palettes["light"]) == set(palettes["dark"])
    assert len(palettes["light"]) == 13
