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

from syops import SyopsError, __version__
from syops.safe_text import markdown_code, markdown_text, visible
from syops.units import human

from .compare_targets import shared_targets, targets_difference, targets_markdown, targets_table
from .compare_training import compare_steps, step_difference, step_lines
from .files import check_output, output_option, overwrite_option
from .output import emit, emit_rich, format_for, note
from .params import debug_option, parse_columns, quiet_option

FORMATS = ("table", "json", "markdown")


class _FinitePercent(click.ParamType):
    """A finite, non-negative percentage: NaN would switch the gate off (every comparison with it is
    false), and infinity or 1e400 would never trip it."""

    name = "PCT"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0 or number > 1e15:
            self.fail(f"{value!r} must be a finite, non-negative percentage (at most 1e15)", param, ctx)
        return number


FINITE_PERCENT = _FinitePercent()
# Compared per layer and in total when both reports have them (memory fields only with a memory model).
METRICS = ("params", "dense_macs", "acs", "macs", "synops", "compute_energy_mj", "memory_energy_mj", "energy_mj")
TOTAL_ONLY = ("neuron_updates",)
GATED = ("energy_mj", "synops")
CONTEXT = ("model", "input_shape", "timesteps", "samples", "energy_model")


def load_report(path: Path) -> dict[str, Any]:
    """A syops JSON report from ``path``; anything else is a SyopsError naming what is wrong."""
    from syops.safe_read import REPORT_LIMIT, read_regular

    raw = read_regular(path, limit=REPORT_LIMIT, what="report")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SyopsError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SyopsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise SyopsError(f"{path}: not a syops JSON report ({exc})") from None
    if not isinstance(data, dict) or "syops_version" not in data:
        raise SyopsError(f"{path}: not a syops JSON report (no syops_version; write one with --format json)")
    totals, layers = data.get("totals"), data.get("layers")
    if not isinstance(totals, dict) or not isinstance(layers, list):
        raise SyopsError(f"{path}: not a syops JSON report (totals or layers missing)")
    for key in GATED:
        if not _is_number(totals.get(key)):
            raise SyopsError(f"{path}: totals.{key} is missing or not a finite number")
    for key in (*METRICS, *TOTAL_ONLY):
        if key in totals and totals[key] is not None and not _is_number(totals[key]):
            raise SyopsError(f"{path}: totals.{key} is not a finite number ({_shown(totals[key])})")
    for index, layer in enumerate(layers):
        if (
            not isinstance(layer, dict)
            or not isinstance(layer.get("name"), str)
            or not isinstance(layer.get("type"), str)
        ):
            raise SyopsError(f"{path}: layers[{index}] has no name and type")
        for key in METRICS:
            if key in layer and not _is_number(layer[key]):
                raise SyopsError(f"{path}: layers[{index}].{key} is not a finite number ({_shown(layer[key])})")
    return data


# Beyond float64's range a count is no count (a 500-digit integer would overflow every sum).
_NUMBER_LIMIT = 1e300


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return abs(value) < _NUMBER_LIMIT
    return math.isfinite(value) and abs(value) < _NUMBER_LIMIT


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} of {len(text)} characters"


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
    """The comparison of two loaded reports (the JSON of docs/contract.md §7), as the JSON output carries it."""
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
        "differences": context_differences(a, b),  # said before the numbers: they may explain them
        "totals": totals,
        "training": compare_steps(a, b, _is_number, difference),
        "layers": layers,
        "only_in_a": [{"name": k[0], "type": k[1]} for k in keyed_a if k not in keyed_b],
        "only_in_b": [{"name": k[0], "type": k[1]} for k in keyed_b if k not in keyed_a],
        "max_increase_pct": max_increase,
        "exceeded": exceeded,
        "targets": shared_targets(a, b, _is_number, difference),
    }


def _context(report: dict[str, Any]) -> dict[str, Any]:
    context = {k: report.get(k) for k in CONTEXT}
    energy = context["energy_model"]
    context["energy_model"] = energy.get("name") if isinstance(energy, dict) else energy
    return context


def _model_text(model: Any) -> str:
    if model is None:
        return "none"
    return str(model.get("name", "unnamed")) if isinstance(model, dict) else str(model)


def _counting(report: dict[str, Any]) -> dict[str, Any]:
    counting = report.get("counting")
    return counting if isinstance(counting, dict) else {}


# What changes the meaning of a figure, in the order it is said: (label, how to read it off a report,
# how to show it).
_MEANING: tuple[tuple[str, Any, Any], ...] = (
    ("energy model", lambda r: r.get("energy_model"), _model_text),
    ("memory model", lambda r: r.get("memory_model"), _model_text),
    ("time steps (T)", lambda r: r.get("timesteps"), str),
    ("samples averaged over", lambda r: r.get("samples"), str),
    ("input shape", lambda r: r.get("input_shape"), lambda v: "×".join(map(str, v)) if isinstance(v, list) else str(v)),
    ("spike mode", lambda r: _counting(r).get("spike_mode"), str),
    ("skip_zero_weights", lambda r: _counting(r).get("skip_zero_weights"), str),
    ("count_neuron_updates", lambda r: _counting(r).get("count_neuron_updates"), str),
    ("syops version", lambda r: r.get("syops_version"), str),
    ("model", lambda r: r.get("model"), str),
)


def context_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Plain sentences naming every field of the reports' context that differs and changes what their
    figures mean (a model with the same name but other values is a difference too)."""
    out = []
    for label, read, show in _MEANING:
        va, vb = read(a), read(b)
        if va == vb:
            continue
        ta = "not recorded" if va is None and label not in ("memory model",) else visible(show(va))
        tb = "not recorded" if vb is None and label not in ("memory model",) else visible(show(vb))
        if ta == tb:
            ta, tb = f"{ta} (its values)", f"{tb} (other values)"
        out.append(f"the reports differ in {label}: {ta} (A), {tb} (B)")
    extra = [targets_difference(a, b, visible), step_difference(a, b)]
    return [*out, *(sentence for sentence in extra if sentence)]


def _both(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
    return _is_number(a["totals"].get(metric)) and _is_number(b["totals"].get(metric))


def _pct(change: dict[str, Any]) -> str:
    if change["pct"] is None:
        return "new"
    if change["pct"] == 0:
        return "0.00%"
    return f"{change['pct']:+.2f}%"


def _value(metric: str, value: float) -> str:
    from syops.export._common import energy_text  # with torch: at work, not for --help

    if metric.endswith("energy_mj"):
        return energy_text(value)
    return human(value)


def _signed(metric: str, value: float) -> str:
    return ("+" if value > 0 else "") + _value(metric, value)


_LAYER_COLUMNS = ("energy_mj", "synops")
_PARTS = (("a", "A"), ("b", "B"), ("diff", "Δ"), ("pct", "Δ%"))
# The table's columns (--columns keys) and the order they are left out in on a narrow terminal: the
# absolute differences, then A's values, the type, B's synops and its change; the layer, B's energy and
# its change stay.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "Layer"),
    ("type", "Type"),
    *((f"{m.removesuffix('_mj')}_{key}", f"{m} {part}") for m in _LAYER_COLUMNS for key, part in _PARTS),
)
DROP_ORDER = ("synops_diff", "energy_diff", "synops_a", "energy_a", "type", "synops_b", "synops_pct")


def _cells(row: dict[str, Any]) -> list[str]:
    cells = [row["name"] or "(model)", row["type"]]
    for m in _LAYER_COLUMNS:
        change = row.get(m)
        cells += (
            [_value(m, change["a"]), _value(m, change["b"]), _signed(m, change["diff"]), _pct(change)]
            if change
            else ["", "", "", ""]
        )
    return cells


def _rich(result: dict[str, Any], columns: list[str] | None = None) -> Any:
    """The per-layer table, fitted to the console's width (names shown as text, one line per row)."""
    from rich.console import Group
    from rich.text import Text

    from syops.report_table import Column, FittedTable

    keys = [key for key, _ in COLUMNS]
    picked = [keys.index(key) for key in columns] if columns else list(range(len(keys)))
    footers = _cells({"name": "Total", "type": "", **result["totals"]})
    table = FittedTable(
        [Column(COLUMNS[i][0], COLUMNS[i][1], footers[i], "left" if i < 2 else "right", name=i == 0) for i in picked],
        drop_order=DROP_ORDER,
    )
    for row in result["layers"]:
        cells = _cells(row)
        table.add_row(*(cells[i] for i in picked))
    return Group(Text("syops compare: B against A (per sample)", style="italic", justify="center"), table)


def _markdown(result: dict[str, Any]) -> str:
    lines = [f"**{markdown_text(s[0].upper() + s[1:])}.**" for s in result["differences"]]
    lines += [""] if lines else []
    lines += ["| metric | A | B | Δ | Δ% |", "|---|---:|---:|---:|---:|"]
    for m, change in result["totals"].items():
        cells = [m, _value(m, change["a"]), _value(m, change["b"]), _signed(m, change["diff"]), _pct(change)]
        lines.append("| " + " | ".join(cells) + " |")
    header = "| layer | type | " + " | ".join(f"{m} A | {m} B | {m} Δ%" for m in _LAYER_COLUMNS) + " |"
    lines += ["", header, "|" + "---|" * (2 + 3 * len(_LAYER_COLUMNS))]
    for row in result["layers"]:
        cells = [markdown_text(row["name"] or "(model)"), markdown_text(row["type"])]
        for m in _LAYER_COLUMNS:
            change = row.get(m)
            cells += [_value(m, change["a"]), _value(m, change["b"]), _pct(change)] if change else ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _only_lines(result, lambda x: f"- {markdown_code(x['name'] or '(model)')} ({markdown_text(x['type'])})")
    lines += targets_markdown(result, _value, _signed, _pct)
    steps = step_lines(result["training"], _value, _pct)
    lines += ["", steps[0], "", *(f"- {line.strip()}" for line in steps[1:])] if steps else []
    return "\n".join(lines) + "\n"


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
    type=FINITE_PERCENT,
    metavar="PCT",
    help="Exit 1 when B's total energy or synops exceed A's by more than PCT percent.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table, or --output's).")
@output_option()
@overwrite_option
@click.option(
    "--columns", metavar="KEY,...", help="Table columns, in this order: " + ",".join(k for k, _ in COLUMNS) + "."
)
@quiet_option
@debug_option
def compare_command(
    report_a: Path,
    report_b: Path,
    max_increase: float | None,
    fmt: str | None,
    output: Path | None,
    overwrite: bool,
    columns: str | None,
    quiet: bool,
) -> int:
    """Differences of two JSON reports (from `syops profile --format json`), B against A: per layer
    (matched by name and type) and in total, absolute and in %."""
    check_output(output, inputs=(report_a, report_b), overwrite=overwrite)
    fmt = format_for(fmt, output, FORMATS)
    table_columns = parse_columns(columns, COLUMNS)
    if table_columns is not None and fmt != "table":
        raise SyopsError(f"--columns picks the columns of the table; --format {fmt} has every field")
    a, b = load_report(report_a), load_report(report_b)
    result = compare_reports(a, b, max_increase)
    result["a"]["file"], result["b"]["file"] = str(report_a), str(report_b)
    if not quiet and output is not None and str(output) != "-":
        for sentence in result["differences"]:  # the file has them first; the terminal hears them first
            note(sentence)
    if fmt == "json":
        emit(json.dumps({"syops_version": __version__, **result}, indent=2), output, quiet)
    elif fmt == "markdown":
        emit(_markdown(result), output, quiet, fmt="markdown")
    else:
        from rich.console import Group
        from rich.text import Text

        extra = _only_lines(result, lambda x: f"  {visible(x['name'] or '(model)')} ({visible(x['type'])})")
        parts: list[Any] = [Text(s[0].upper() + s[1:] + ".", style="bold") for s in result["differences"]]
        parts.append(_rich(result, table_columns))
        if extra:
            parts.append(Text("\n".join(extra).lstrip("\n")))
        if result["targets"]:
            parts.append(targets_table(result, _value, _signed, _pct))
        steps = step_lines(result["training"], _value, _pct)
        if steps:
            parts.append(Text("\n".join(steps)))
        emit_rich(Group(*parts), output, quiet)
    meaning = [s.split(":")[0].removeprefix("the reports differ in ") for s in result["differences"]]
    meaning = [m for m in meaning if m not in ("model", "syops version")]
    for metric in result["exceeded"]:
        change = result["totals"][metric]
        grew = "from zero" if change["pct"] is None else f"by {change['pct']:.2f}%"
        note(
            f"total {metric} grew {grew} ({_value(metric, change['a'])} → {_value(metric, change['b'])}), "
            f"more than --max-increase {max_increase:g}%"
            + (f" (the reports also differ in {', '.join(meaning)}: see above)" if meaning else ""),
            kind="gate",
        )
    return 1 if result["exceeded"] else 0
