"""Scales shared by every chart (the health page's SVG, the report's timeline): round numbers for axes."""
from __future__ import annotations

import math


def nice_number(value: float, steps: tuple[float, ...] = (1, 2, 5)) -> float:
    """The smallest of ``steps`` times a power of ten that is at least ``value`` (value > 0)."""
    power = 10 ** math.floor(math.log10(value))
    return next((step * power for step in steps if value <= step * power * (1 + 1e-9)), 10 * power)


def nice_ceiling(value: float) -> float:
    """An axis's top: the smallest 1, 2 or 5 times a power of ten that is at least ``value`` (1 for nothing)."""
    return nice_number(value) if value > 0 else 1.0


def nice_step(span: float, ticks: int = 6) -> float:
    """A tick step for about ``ticks`` ticks over ``span``: 1, 2, 2.5 or 5 times a power of ten."""
    return nice_number(max(span, 1e-6) / ticks, steps=(1, 2, 2.5, 5))
