"""``syops compare`` on training reports: the step's figures (docs/training.md) B against A, when both
files hold a training step; one holding a step and the other not is a difference said before the numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PHASE_METRICS = ("acs", "macs", "energy_mj")
STEP_METRICS = ("training_energy_mj", "saved_for_backward_bytes")


def has_step(report: dict[str, Any]) -> bool:
    return isinstance(report.get("phases"), dict)


def step_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The sentence said when one report is a training step and the other is not."""
    if has_step(a) == has_step(b):
        return None
    side = "A" if has_step(a) else "B"
    return f"the reports differ in what was counted: {side} is a training step, the other inference only"


def _read(report: dict[str, Any], metric: str) -> Any:
    if "." not in metric:
        return report.get(metric)
    phase, key = metric.split(".", 1)
    row = report["phases"].get(phase)
    return row.get(key) if isinstance(row, dict) else None


def compare_steps(
    a: dict[str, Any], b: dict[str, Any], is_number: Callable[[Any], bool], difference: Callable
) -> dict[str, Any]:
    """``metric: difference`` for the training figures both reports carry as numbers ({} unless both are
    training steps)."""
    if not (has_step(a) and has_step(b)):
        return {}
    metrics = [*STEP_METRICS, *(f"{p}.{m}" for p in ("forward", "backward", "update") for m in PHASE_METRICS)]
    out = {}
    for metric in metrics:
        va, vb = _read(a, metric), _read(b, metric)
        if is_number(va) and is_number(vb):
            out[metric] = difference(va, vb)
    return out


def step_lines(training: dict[str, Any], value: Callable[[str, float], str], pct: Callable) -> list[str]:
    """Plain lines of the training comparison (the table's and Markdown's)."""
    if not training:
        return []

    def shown(metric: str, number: float) -> str:
        return f"{number:,.0f} bytes" if metric.endswith("bytes") else value(metric, number)

    lines = ["Training step, per sample (B against A):"]
    for metric, change in training.items():
        lines.append(f"  {metric}: {shown(metric, change['a'])} → {shown(metric, change['b'])} ({pct(change)})")
    return lines
