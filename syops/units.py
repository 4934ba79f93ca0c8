"""Number formatting: human units for tables, and syops-counter's strings for the compatible call."""

from __future__ import annotations


def human(value: float | int | None, precision: int = 2) -> str:
    """1822177768 -> '1.82 G'; 0.5 -> '0.5'; None -> '-'."""
    if value is None:
        return "-"
    magnitude = abs(value)
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if magnitude >= factor:
            return f"{value / factor:.{precision}f} {suffix}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{precision}f}"


def percent(value: float | None, precision: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{precision}f}%"


def syops_to_string(syops: float, units: str | None = None, precision: int = 2) -> str:
    """syops-counter's format: '2.76 MMac', with units None (automatic), 'GMac', 'MMac' or 'KMac'."""
    scales = {"GMac": 1e9, "MMac": 1e6, "KMac": 1e3}
    if units is None:
        for name, scale in scales.items():
            if syops // scale > 0:
                return f"{round(syops / scale, precision)} {name}"
        return f"{syops} Mac"
    if units in scales:
        return f"{round(syops / scales[units], precision)} {units}"
    return f"{syops} Mac"


def params_to_string(params: float, units: str | None = None, precision: int = 2) -> str:
    """syops-counter's format: '11.69 M', with units None (automatic), 'M' or 'K'."""
    if units is None:
        if params // 1e6 > 0:
            return f"{round(params / 1e6, precision)} M"
        if params // 1e3 > 0:
            return f"{round(params / 1e3, precision)} k"
        return str(params)
    if units == "M":
        return f"{round(params / 1e6, precision)} M"
    if units == "K":
        return f"{round(params / 1e3, precision)} K"
    return str(params)
