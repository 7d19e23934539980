"""Numbers in run files, as short as what they are allows: a float that is exactly a float32 (what
Keras's metrics and learning rate are) in; the shortest decimal that reads back as that same
float32 out (0.2133333384990692 becomes 0.21333334), for history.csv and metrics.json. No
TensorFlow, no numpy.
"""

from __future__ import annotations

import math
import struct
from typing import Any


def float32_short(value: Any) -> Any:
    """``value`` (a number, or dicts and lists of them) with each float that is exactly a float32
    — what Keras's metrics are — replaced by the shortest decimal that reads back as the same
    float32: 0.2133333384990692 becomes 0.21333334. Nothing is lost (``float32(0.21333334)`` is
    the metric's value bit for bit); other floats (seconds, images per second) stay as they are.
    """
    if isinstance(value, dict):
        return {key: float32_short(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [float32_short(item) for item in value]
    if not isinstance(value, float) or not math.isfinite(value) or _as_float32(value) != value:
        return value
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        short = float(f"{value:.{digits}g}")
        if _as_float32(short) == value:
            return short
    return value


def _as_float32(value: float) -> float:
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.inf
