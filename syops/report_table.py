"""Terminal tables that fit the width they are printed in, one line per row, names shown as text.

A :class:`FittedTable` is a rich renderable: at render time it measures its columns, leaves out the
least important ones (in the table's stated order) until the rest fit the console's width, and cuts a
name that is still too long with an ellipsis. A row is never wrapped onto a second line. Cells are plain
text, never rich markup, and control characters in them are shown escaped (``\\x1b``), so a layer named
``[red]fc`` or ``"\\x1b]8;;..."`` reads as what it is. It yields one segment per line, so printing is
linear in the rows and lean (no per-cell layout objects).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style

from .errors import SyopsError
from .safe_text import visible

ELLIPSIS = "…"
NAME_COMFORT = 20  # a long name is cut to this width before any column is left out


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut with an ellipsis when longer."""
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    out, used = [], 0
    for char in text:
        size = cell_len(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + ELLIPSIS


@dataclass
class Column:
    key: str  # what --columns calls it
    header: str
    footer: str = ""
    justify: str = "left"  # "left" or "right"
    name: bool = False  # a name column: cut with an ellipsis rather than left out


@dataclass
class FittedTable:
    """Rows of plain-text cells under ``columns``; ``drop_order``: the keys left out first when the
    table is wider than the console (a key not listed is never left out; a name column is cut first)."""

    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    row_styles: list[str | None] = field(default_factory=list)
    drop_order: Sequence[str] = ()
    show_footer: bool = True

    def add_row(self, *cells: Any, style: str | None = None) -> None:
        self.rows.append([visible(cell) for cell in cells])
        self.row_styles.append(style)

    # -- layout ------------------------------------------------------------------------------------
    def natural_widths(self) -> list[int]:
        widths = [max(cell_len(c.header), cell_len(c.footer) if self.show_footer else 0) for c in self.columns]
        for row in self.rows:
            for index, cell in enumerate(row):
                size = len(cell) if cell.isascii() else cell_len(cell)
                if size > widths[index]:
                    widths[index] = size
        return widths

    def layout(self, width: int) -> tuple[list[int], list[int]]:
        """The indices of the columns shown and their widths, for a console ``width`` cells wide."""
        natural = self.natural_widths()
        shown = list(range(len(self.columns)))
        widths = dict(enumerate(natural))

        def total() -> int:
            return sum(widths[i] + 3 for i in shown) + 1  # "│ " before each cell, " │" at the end

        names = [i for i in shown if self.columns[i].name]

        def cut_names(floor: int) -> None:
            over = total() - width
            for i in names:
                cut = min(max(over, 0), max(widths[i] - floor, 0))
                widths[i] -= cut
                over -= cut

        cut_names(NAME_COMFORT)  # long names are cut to a readable width before a column goes
        for key in self.drop_order:
            if total() <= width:
                break
            shown = [i for i in shown if self.columns[i].key != key]
        cut_names(1)  # still too wide with every droppable column gone: cut the names further
        return shown, [widths[i] for i in shown]

    def lines(self, width: int) -> Iterable[tuple[str, str | None]]:
        """The table's lines (text and a style name), each at most ``width`` cells wide."""
        shown, widths = self.layout(width)
        columns = [self.columns[i] for i in shown]

        def line(cells: Sequence[str], left: str, sep: str, right: str) -> str:
            parts = []
            for cell, column, size in zip(cells, columns, widths, strict=True):
                text = fit(cell, size)
                pad = " " * (size - (len(text) if text.isascii() else cell_len(text)))
                parts.append(pad + text if column.justify == "right" else text + pad)
            return left + " " + f" {sep} ".join(parts) + " " + right

        def rule(left: str, mid: str, right: str, bar: str) -> str:
            return left + mid.join(bar * (size + 2) for size in widths) + right

        yield rule("┏", "┳", "┓", "━"), None
        yield line([c.header for c in columns], "┃", "┃", "┃"), "bold"
        yield rule("┡", "╇", "┩", "━"), None
        for row, style in zip(self.rows, self.row_styles, strict=True):
            yield line([row[i] for i in shown], "│", "│", "│"), style
        if self.show_footer:
            yield rule("├", "┼", "┤", "─"), None
            yield line([c.footer for c in columns], "│", "│", "│"), "bold"
        yield rule("└", "┴", "┘", "─"), None

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Segment]:
        styles: dict[str | None, Style | None] = {None: None}
        newline = Segment.line()
        for text, style in self.lines(options.max_width):
            if style not in styles:
                styles[style] = console.get_style(style)
            yield Segment(text, styles[style])
            yield newline


def select_columns(columns: list[Column], chosen: Sequence[str] | None) -> list[int]:
    """The indices of the ``chosen`` column keys in the order given (all columns when None); an unknown
    key is a SyopsError naming the known ones."""
    if chosen is None:
        return list(range(len(columns)))
    keys = [c.key for c in columns]
    unknown = [key for key in chosen if key not in keys]
    if unknown:
        raise SyopsError(f"unknown column {', '.join(unknown)}; choose from {', '.join(keys)}")
    return [keys.index(key) for key in dict.fromkeys(chosen)]


# The per-layer report table: its columns (key, header, justification) and, when the terminal is too
# narrow, the order they are left out in: the detail of the counts first, then the energy split, the
# type, the spike rate and the synops; the layer name (cut with an ellipsis) and the energy always stay.
REPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("layer", "Layer", "left"),
    ("type", "Type", "left"),
    ("params", "Params", "right"),
    ("dense_macs", "Dense MACs", "right"),
    ("acs", "ACs", "right"),
    ("macs", "MACs", "right"),
    ("synops", "SynOps", "right"),
    ("in_events", "In events", "right"),
    ("spike_rate", "Spike rate", "right"),
    ("compute", "Compute", "right"),
    ("memory", "Memory", "right"),
    ("energy", "Energy", "right"),
)
REPORT_DROP_ORDER: tuple[str, ...] = (
    "in_events",
    "dense_macs",
    "macs",
    "acs",
    "params",
    "compute",
    "memory",
    "type",
    "spike_rate",
    "synops",
)


TABLE_ROW_LIMIT = 1000  # beyond it the table shows the costliest layers and sums up the rest
_SUMMED = ("dense_macs", "acs", "macs", "synops", "compute_energy_mj", "memory_energy_mj", "energy_mj")


def shown_layers(layers: Sequence[Any], limit: int = TABLE_ROW_LIMIT) -> tuple[list[Any], list[Any]]:
    """The layers a table shows, in model order, and those it sums up in one row: all of them up to
    ``limit``; beyond, the ``limit`` costliest by energy (the first of equals) and the rest."""
    if len(layers) <= limit:
        return list(layers), []
    keep = set(heapq.nlargest(limit, range(len(layers)), key=lambda i: (layers[i].energy_mj, -i)))
    return [layers[i] for i in sorted(keep)], [layer for i, layer in enumerate(layers) if i not in keep]


def count_cells(layer: Any) -> list[str]:
    """A layer's name, type and counts as the tables show them (terminal and notebook alike)."""
    from .units import human, percent

    return [
        layer.name or "(model)",
        layer.type,
        human(layer.params),
        human(layer.dense_macs),
        human(layer.acs),
        human(layer.macs),
        human(layer.synops),
        percent(layer.input_event_rate),
        percent(layer.output_spike_rate),
    ]


def report_table(report: Any, columns: Sequence[str] | None = None) -> Any:
    """The per-layer table of ``report`` (a rich renderable: the title, then the rows), with the
    ``columns`` chosen (keys of REPORT_COLUMNS, in that order) or all of them."""
    from rich.console import Group
    from rich.text import Text

    from .report import _energy_text as energy_text
    from .units import human, percent

    totals = report.totals
    priced = report.memory_model is not None
    footers = {
        "layer": "Total",
        "params": human(totals["params"]),
        "dense_macs": human(totals["dense_macs"]),
        "acs": human(totals["acs"]),
        "macs": human(totals["macs"]),
        "synops": human(totals["synops"]),
        "spike_rate": percent(report.mean_spike_rate),
        "compute": energy_text(totals["compute_energy_mj"]),
        "memory": energy_text(totals["memory_energy_mj"]) if priced else "–",
        "energy": energy_text(totals["energy_mj"]),
    }
    every = [
        Column(key, header, footers.get(key, ""), justify, name=key == "layer")
        for key, header, justify in REPORT_COLUMNS
    ]
    targets = list(getattr(report, "targets", None) or [])
    if targets:  # side by side: one energy column per target in place of compute, memory and energy
        return _targets_table(report, targets, every[:-3], columns)
    picked = select_columns(every, columns)
    # Without a memory model the Memory column is empty and Compute repeats Energy: they go first.
    drop_order = REPORT_DROP_ORDER if priced else ("memory", "compute", *REPORT_DROP_ORDER)
    table = FittedTable([every[i] for i in picked], drop_order=drop_order)
    layers, rest = shown_layers(report.layers)
    for layer in layers:
        cells = (
            *count_cells(layer),
            energy_text(layer.compute_energy_mj),
            energy_text(layer.memory_energy_mj) if priced else "–",
            energy_text(layer.energy_mj),
        )
        table.add_row(*(cells[i] for i in picked))
    if rest:
        sums = {k: math.fsum(getattr(layer, k) for layer in rest) for k in _SUMMED}
        cells = (
            *_rest_count_cells(rest, sums),
            energy_text(sums["compute_energy_mj"]),
            energy_text(sums["memory_energy_mj"]) if priced else "–",
            energy_text(sums["energy_mj"]),
        )
        table.add_row(*(cells[i] for i in picked), style="italic")
    return Group(Text(_title(report), style="italic", justify="center"), table)


def _title(report: Any) -> str:
    view = " per time step" if report.per_timestep_view else ""
    return (
        f"{visible(report.model)}: per-sample costs{view} (T={report.timesteps}, {report.samples} sample(s), "
        f"{visible(report.energy_model.name)}, memory {visible(report._memory_text())})"
    )


def _rest_count_cells(rest: Sequence[Any], sums: dict[str, float]) -> list[str]:
    """The count cells of the row that sums up the layers a long table leaves out."""
    from .units import human

    return [
        f"… {len(rest):,} more layers",
        "",
        human(sum(layer.params for layer in rest)),
        human(sums["dense_macs"]),
        human(sums["acs"]),
        human(sums["macs"]),
        human(sums["synops"]),
        "",
        "",
    ]


def _targets_table(report: Any, targets: list[Any], counts: list[Column], columns: Sequence[str] | None) -> Any:
    """The table of a side-by-side report: the count columns, then each target's energy per sample
    (compute + memory where the target prices memory). ``--columns energy`` (or compute, memory) picks
    the targets' columns."""
    from rich.console import Group
    from rich.text import Text

    from .export.targets import target_label
    from .report import _energy_text as energy_text

    energy_keys = ("compute", "memory", "energy")
    keys = [c.key for c in counts]
    if columns is None:
        picked, with_targets = list(range(len(counts))), True
    else:
        unknown = [key for key in columns if key not in keys and key not in energy_keys]
        if unknown:
            raise SyopsError(f"unknown column {', '.join(unknown)}; choose from {', '.join([*keys, *energy_keys])}")
        picked = [keys.index(key) for key in dict.fromkeys(columns) if key in keys]
        with_targets = any(key in energy_keys for key in columns)
    shown = [counts[i] for i in picked]
    if with_targets:
        shown += [
            Column(f"target_{n}", target_label(t), energy_text(t.totals["energy_mj"]), "right")
            for n, t in enumerate(targets)
        ]
    table = FittedTable(shown, drop_order=REPORT_DROP_ORDER)
    index_of = {id(layer): i for i, layer in enumerate(report.layers)}
    layers, rest = shown_layers(report.layers)
    for layer in layers:
        cells = count_cells(layer)
        energies = [energy_text(t.layers[index_of[id(layer)]].energy_mj) for t in targets] if with_targets else []
        table.add_row(*(cells[i] for i in picked), *energies)
    if rest:
        sums = {k: math.fsum(getattr(layer, k) for layer in rest) for k in _SUMMED}
        cells = _rest_count_cells(rest, sums)
        energies = (
            [energy_text(math.fsum(t.layers[index_of[id(x)]].energy_mj for x in rest)) for t in targets]
            if with_targets
            else []
        )
        table.add_row(*(cells[i] for i in picked), *energies, style="italic")
    return Group(Text(_title(report), style="italic", justify="center"), table)
