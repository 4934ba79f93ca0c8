"""``syops compare`` on side-by-side reports (``syops profile --energy A --energy B``): the energy targets
both files carry, B against A, matched by energy and memory model names."""

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


def shared_targets(
    a: dict[str, Any], b: dict[str, Any], is_number: Callable[[Any], bool], difference: Callable
) -> list[dict[str, Any]]:
    """The energy targets both reports carry, in A's order: their energies per sample, B against A."""
    targets_b = {target_key(t): t for t in b.get("targets") or [] if isinstance(t, dict)}
    shared = []
    for target in a.get("targets") or []:
        other = targets_b.get(target_key(target)) if isinstance(target, dict) else None
        if other is None:
            continue
        row: dict[str, Any] = {"target": target_key(target)}
        for m in TARGET_METRICS:
            if is_number(target.get(m)) and is_number(other.get(m)):
                row[m] = difference(target[m], other[m])
        shared.append(row)
    return shared


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
