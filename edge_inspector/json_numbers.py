"""What counts as a number in untrusted JSON and YAML: every door's check goes through here.

Python's json and YAML parsers return integers of hundreds of digits as int, and `math.isfinite` or `float` of
such an int raises OverflowError, which no door's own error type catches: one hostile message would escape as a
traceback. finite_float answers None for it, as for NaN, infinities, bools and non-numbers.
"""

from __future__ import annotations

import math
from typing import Any


def finite_float(value: Any) -> float | None:
    """`value` as a float when it is an int or float (not a bool) that a float holds finitely, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond +-1.8e308
        return None
    return number if math.isfinite(number) else None
