"""``syops compare`` on side-by-side reports (``syops profile --energy A --energy B``): the energy targets
both files carry, B against A, matched by energy and memory model names, and a sentence naming the
targets only one of them carries.

A report without ``targets`` has one target, its own energy and memory models with its totals, so a
side-by-side report compares with a plain one on the target they share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syops.safe_text import markdown_text

TARGET_METRICS = ("energy_mj", "compute_energy_mj", "memory_energy_mj", "ann_energy_mj")


def target_key(target: dict[str, Any]) -> str:
    """``loihi``, or ``45nm-fp32 + sram-45nm`` for a target with a memory model."""
    energy, memory = target.get("energy_model") or {}, target.get("memory_model")
    name = str(energy.get("name")) if isinstance(energy, dict) else str(energy)
    return name if not isinstance(memory, dict) else f"{name} + {memory.get('name')}"


def targets_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's targets in its order: its ``targets``, or its own models and totals as the one target."""
    targets = report.get("targets")
    if isinstance(targets, list) and targets:
        return [t for t in targets if isinstance(t, dict)]
    totals = report.get("totals") if isinstance(report.get("totals"), dict) else {}
    own = {"energy_model": report.get("energy_model"), "memory_model": report.get("memory_model")}
    return [{**own, **{m: totals.get(m) for m in TARGET_METRICS}}]


def _side_by_side(report: dict[str, Any]) -> bool:
    return isinstance(report.get("targets"), list) and bool(report["targets"])


def shared_targets(
    a: dict[str, Any], b: dict[str, Any], is_number: Callable[[Any], bool], difference: Callable
) -> list[dict[str, Any]]:
    """The energy targets both reports carry, in A's order: their energies per sample, B against A; none
    unless at least one report is side by side (two plain reports: their totals say it all)."""
    if not (_side_by_side(a) or _side_by_side(b)):
        return []
    targets_b = {target_key(t): t for t in targets_of(b)}
    shared = []
    for target in targets_of(a):
        other = targets_b.get(target_key(target))
        if other is None:
            continue
        row: dict[str, Any] = {"target": target_key(target)}
        for m in TARGET_METRICS:
            if is_number(target.get(m)) and is_number(other.get(m)):
                row[m] = difference(target[m], other[m])
        shared.append(row)
    return shared


def targets_difference(a: dict[str, Any], b: dict[str, Any], show: Callable[[str], str]) -> str | None:
    """The sentence said when a side-by-side report carries targets the other lacks (``show`` makes a
    target's name safe to print)."""
    if not (_side_by_side(a) or _side_by_side(b)):
        return None
    keys_a, keys_b = [target_key(t) for t in targets_of(a)], [target_key(t) for t in targets_of(b)]
    only_a = [k for k in keys_a if k not in keys_b]
    only_b = [k for k in keys_b if k not in keys_a]
    if not only_a and not only_b:
        return None
    parts = [
        f"{side} alone has {', '.join(show(k) for k in keys)}" for side, keys in (("A", only_a), ("B", only_b)) if keys
    ]
    shared = [k for k in keys_a if k in keys_b]
    said = f"{', '.join(show(k) for k in shared)} compared" if shared else "none shared"
    return f"the reports differ in energy targets: {'; '.join(parts)} ({said})"


def _cells(row: dict[str, Any], value: Callable, signed: Callable, pct: Callable) -> list[str]:
    change, m = row.get("energy_mj"), "energy_mj"
    if not change:
        return [""] * 4
    return [value(m, change["a"]), value(m, change["b"]), signed(m, change["diff"]), pct(change)]


def targets_markdown(result: dict[str, Any], value: Callable, signed: Callable, pct: Callable) -> list[str]:
    if not result.get("targets"):
        return []
    lines = ["", "| target | energy A | energy B | Δ | Δ% |", "|---|---:|---:|---:|---:|"]
    for row in result["targets"]:
        lines.append("| " + " | ".join([markdown_text(row["target"]), *_cells(row, value, signed, pct)]) + " |")
    return lines


def targets_table(result: dict[str, Any], value: Callable, signed: Callable, pct: Callable) -> Any:
    """A rich table of the shared targets (their names shown as text, never as markup)."""
    from rich.table import Table
    from rich.text import Text

    from syops.safe_text import visible

    table = Table(title="Energy per sample on the targets both reports carry", header_style="bold")
    for header in ("Target", "A", "B", "Δ", "Δ%"):
        table.add_column(header, justify="left" if header == "Target" else "right")
    for row in result["targets"]:
        table.add_row(Text(visible(row["target"])), *_cells(row, value, signed, pct))
    return table
