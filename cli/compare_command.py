"""``syops compare A.json B.json``: per-layer and total differences of two JSON reports, and a CI gate.

Layers are matched by name and type (the n-th row of a (name, type) pair with the n-th); rows in only one
report are listed. ``--max-increase PCT`` exits 1 when B's total energy or synops exceed A's by more
than PCT percent. A file that is not a syops JSON report is one error line, exit 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from syops import SyopsError
from syops.export._common import energy_text
from syops.units import human

from .output import emit, emit_rich, note
from .params import debug_option, quiet_option

FORMATS = ("table", "json", "markdown")
# Compared per layer and in total when both reports have them (memory fields only with a memory model).
METRICS = ("params", "dense_macs", "acs", "macs", "synops", "compute_energy_mj", "memory_energy_mj", "energy_mj")
TOTAL_ONLY = ("neuron_updates",)
GATED = ("energy_mj", "synops")
CONTEXT = ("model", "input_shape", "timesteps", "samples", "energy_model")


def load_report(path: Path) -> dict[str, Any]:
    """A syops JSON report from ``path``; anything else is a SyopsError naming what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SyopsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyopsError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SyopsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or "syops_version" not in data:
        raise SyopsError(f"{path}: not a syops JSON report (no syops_version; write one with --format json)")
    totals, layers = data.get("totals"), data.get("layers")
    if not isinstance(totals, dict) or not isinstance(layers, list):
        raise SyopsError(f"{path}: not a syops JSON report (totals or layers missing)")
    for key in GATED:
        if not _is_number(totals.get(key)):
            raise SyopsError(f"{path}: totals.{key} is missing or not a number")
    for index, layer in enumerate(layers):
        if (
            not isinstance(layer, dict)
            or not isinstance(layer.get("name"), str)
            or not isinstance(layer.get("type"), str)
        ):
            raise SyopsError(f"{path}: layers[{index}] has no name and type")
        for key in METRICS:
            if key in layer and not _is_number(layer[key]):
                raise SyopsError(f"{path}: layers[{index}].{key} is not a number")
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def difference(a: float, b: float) -> dict[str, float | None]:
    """a, b, b - a and the change in % of a (0 when both are 0, None when only a is 0)."""
    diff = b - a
    pct = 0.0 if a == b else (100.0 * diff / a if a else None)
    return {"a": a, "b": b, "diff": diff, "pct": pct}


def _keyed(layers: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    seen: dict[tuple[str, str], int] = {}
    keyed = {}
    for layer in layers:
        pair = (layer["name"], layer["type"])
        keyed[(*pair, seen.get(pair, 0))] = layer
        seen[pair] = seen.get(pair, 0) + 1
    return keyed


def compare_reports(a: dict[str, Any], b: dict[str, Any], max_increase: float | None = None) -> dict[str, Any]:
    """The comparison of two loaded reports (design §2 dicts), as the JSON output carries it."""
    metrics = [m for m in METRICS if m in a["totals"] and m in b["totals"]]
    totals = {m: difference(a["totals"][m], b["totals"][m]) for m in (*metrics, *TOTAL_ONLY) if _both(a, b, m)}
    keyed_a, keyed_b = _keyed(a["layers"]), _keyed(b["layers"])
    layers = []
    for key, layer_a in keyed_a.items():
        layer_b = keyed_b.get(key)
        if layer_b is None:
            continue
        row: dict[str, Any] = {"name": key[0], "type": key[1]}
        for m in metrics:
            if m in layer_a and m in layer_b:
                row[m] = difference(layer_a[m], layer_b[m])
        layers.append(row)
    exceeded = []
    if max_increase is not None:
        for m in GATED:
            change = totals[m]
            grew = change["diff"] > 0 and (change["pct"] is None or change["pct"] > max_increase)
            if grew:
                exceeded.append(m)
    return {
        "a": _context(a),
        "b": _context(b),
        "totals": totals,
        "layers": layers,
        "only_in_a": [{"name": k[0], "type": k[1]} for k in keyed_a if k not in keyed_b],
        "only_in_b": [{"name": k[0], "type": k[1]} for k in keyed_b if k not in keyed_a],
        "max_increase_pct": max_increase,
        "exceeded": exceeded,
        "targets": shared_targets(a, b),
    }


TARGET_METRICS = ("energy_mj", "compute_energy_mj", "memory_energy_mj", "ann_energy_mj")


def _target_key(target: dict[str, Any]) -> str:
    """``loihi``, or ``45nm-fp32 + sram-45nm`` for a target with a memory model."""
    energy, memory = target.get("energy_model") or {}, target.get("memory_model")
    name = str(energy.get("name")) if isinstance(energy, dict) else str(energy)
    return name if not isinstance(memory, dict) else f"{name} + {memory.get('name')}"


def shared_targets(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """The energy targets (`syops profile --energy A --energy B`) both reports carry, in A's order: their
    energies per sample, B against A."""
    targets_b = {_target_key(t): t for t in b.get("targets") or [] if isinstance(t, dict)}
    shared = []
    for target in a.get("targets") or []:
        other = targets_b.get(_target_key(target)) if isinstance(target, dict) else None
        if other is None:
            continue
        row: dict[str, Any] = {"target": _target_key(target)}
        for m in TARGET_METRICS:
            if _is_number(target.get(m)) and _is_number(other.get(m)):
                row[m] = difference(target[m], other[m])
        shared.append(row)
    return shared


def _targets_table(result: dict[str, Any]) -> Table:
    table = Table(title="Energy per sample on the targets both reports carry", header_style="bold")
    for header in ("Target", "A", "B", "Δ", "Δ%"):
        table.add_column(header, justify="left" if header == "Target" else "right")
    for row in result["targets"]:
        change = row.get("energy_mj")
        m = "energy_mj"
        cells = [_value(m, change["a"]), _value(m, change["b"]), _signed(m, change["diff"]), _pct(change)]
        table.add_row(row["target"], *(cells if change else ["", "", "", ""]))
    return table


def _context(report: dict[str, Any]) -> dict[str, Any]:
    context = {k: report.get(k) for k in CONTEXT}
    energy = context["energy_model"]
    context["energy_model"] = energy.get("name") if isinstance(energy, dict) else energy
    return context


def _both(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
    return _is_number(a["totals"].get(metric)) and _is_number(b["totals"].get(metric))


def _pct(change: dict[str, Any]) -> str:
    if change["pct"] is None:
        return "new"
    if change["pct"] == 0:
        return "0.00%"
    return f"{change['pct']:+.2f}%"


def _value(metric: str, value: float) -> str:
    if metric.endswith("energy_mj"):
        return energy_text(value)
    return human(value)


def _signed(metric: str, value: float) -> str:
    return ("+" if value > 0 else "") + _value(metric, value)


_LAYER_COLUMNS = ("energy_mj", "synops")


def _rich(result: dict[str, Any]) -> Table:
    table = Table(title="syops compare: B against A (per sample)", header_style="bold")
    for header in ("Layer", "Type"):
        table.add_column(header)
    for m in _LAYER_COLUMNS:
        for part in ("A", "B", "Δ", "Δ%"):
            table.add_column(f"{m} {part}", justify="right")
    rows = [*result["layers"], {"name": "Total", "type": "", **result["totals"]}]
    for index, row in enumerate(rows):
        cells = [row["name"] or "(model)", row["type"]]
        for m in _LAYER_COLUMNS:
            change = row.get(m)
            cells += (
                [_value(m, change["a"]), _value(m, change["b"]), _signed(m, change["diff"]), _pct(change)]
                if change
                else ["", "", "", ""]
            )
        table.add_row(*cells, end_section=index == len(rows) - 2)  # a rule above the totals
    return table


def _markdown(result: dict[str, Any]) -> str:
    lines = ["| metric | A | B | Δ | Δ% |", "|---|---:|---:|---:|---:|"]
    for m, change in result["totals"].items():
        cells = [m, _value(m, change["a"]), _value(m, change["b"]), _signed(m, change["diff"]), _pct(change)]
        lines.append("| " + " | ".join(cells) + " |")
    header = "| layer | type | " + " | ".join(f"{m} A | {m} B | {m} Δ%" for m in _LAYER_COLUMNS) + " |"
    lines += ["", header, "|" + "---|" * (2 + 3 * len(_LAYER_COLUMNS))]
    for row in result["layers"]:
        cells = [_md(row["name"] or "(model)"), _md(row["type"])]
        for m in _LAYER_COLUMNS:
            change = row.get(m)
            cells += [_value(m, change["a"]), _value(m, change["b"]), _pct(change)] if change else ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _only_lines(result, lambda x: f"- `{x['name'] or '(model)'}` ({x['type']})")
    if result.get("targets"):
        lines += ["", "| target | energy A | energy B | Δ | Δ% |", "|---|---:|---:|---:|---:|"]
        for row in result["targets"]:
            c, m = row["energy_mj"], "energy_mj"
            cells = [_md(row["target"]), _value(m, c["a"]), _value(m, c["b"]), _signed(m, c["diff"]), _pct(c)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _only_lines(result: dict[str, Any], item) -> list[str]:
    lines = []
    for side, key in (("A", "only_in_a"), ("B", "only_in_b")):
        if result[key]:
            lines += ["", f"Only in {side}:", *(item(x) for x in result[key])]
    return lines


@click.command("compare")
@click.argument("report_a", metavar="A.json", type=click.Path(path_type=Path))
@click.argument("report_b", metavar="B.json", type=click.Path(path_type=Path))
@click.option(
    "--max-increase",
    type=click.FloatRange(min=0),
    metavar="PCT",
    help="Exit 1 when B's total energy or synops exceed A's by more than PCT percent.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@quiet_option
@debug_option
def compare_command(
    report_a: Path, report_b: Path, max_increase: float | None, fmt: str, output: Path | None, quiet: bool
) -> int:
    """Differences of two JSON reports (from `syops profile --format json`), B against A: per layer
    (matched by name and type) and in total, absolute and in %."""
    a, b = load_report(report_a), load_report(report_b)
    result = compare_reports(a, b, max_increase)
    result["a"]["file"], result["b"]["file"] = str(report_a), str(report_b)
    if fmt == "json":
        emit(json.dumps(result, indent=2), output, quiet)
    elif fmt == "markdown":
        emit(_markdown(result), output, quiet)
    else:
        from rich.console import Group
        from rich.text import Text

        extra = _only_lines(result, lambda x: f"  {x['name'] or '(model)'} ({x['type']})")
        parts = [_rich(result), *([Text("\n".join(extra).lstrip("\n"))] if extra else [])]
        if result["targets"]:
            parts.append(_targets_table(result))
        emit_rich(Group(*parts) if len(parts) > 1 else parts[0], output, quiet)
    if not quiet:
        for key in ("timesteps", "input_shape", "energy_model"):
            if result["a"][key] != result["b"][key]:
                note(f"the reports differ in {key}: {result['a'][key]} (A) and {result['b'][key]} (B)")
    for metric in result["exceeded"]:
        change = result["totals"][metric]
        grew = "from zero" if change["pct"] is None else f"by {change['pct']:.2f}%"
        note(
            f"total {metric} grew {grew} ({_value(metric, change['a'])} → {_value(metric, change['b'])}), "
            f"more than --max-increase {max_increase:g}%",
            kind="gate",
        )
    return 1 if result["exceeded"] else 0
