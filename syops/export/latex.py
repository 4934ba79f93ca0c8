"""``Report.to_latex()``: a paper-ready booktabs table, one row per layer or per block of layers.

Each column has one unit, chosen from its largest value and stated in the header (``SynOps (M)``,
``Energy ($\\mu$J)``); text from the model (names, types) is escaped; the caption states the model, the
input, T, the samples and the energy / memory models the numbers depend on.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from ..errors import SyopsError
from ..report import Report
from ..safe_text import visible
from ._common import (
    compute_energy_mj,
    energy_costs,
    memory_energy_mj,
    memory_model,
    memory_model_text,
    per_what,
    shape_text,
    word_width_text,
)
from .phase_tables import phases_latex

GRANULARITIES = ("layer", "block")

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "×": r"$\times$",
    "µ": r"$\mu$",
    "·": r"$\cdot$",
}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIAL))

# Beyond ASCII, a plain pdflatex (no package but booktabs, any input encoding) typesets what LaTeX's own
# commands can: Greek letters as math, Latin letters with their accents and a few ligatures; any other
# character (CJK, Cyrillic, emoji, a control character) is written as its code point, \texttt{U+5C42}.
_GREEK_NAMES = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon phi chi "
    "psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
)
_GREEK = dict(zip("αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ", _GREEK_NAMES.split(" "), strict=True))
_LETTERS = {
    "ß": r"\ss{}",
    "æ": r"\ae{}",
    "Æ": r"\AE{}",
    "œ": r"\oe{}",
    "Œ": r"\OE{}",
    "ø": r"\o{}",
    "Ø": r"\O{}",
    "å": r"\aa{}",
    "Å": r"\AA{}",
    "ł": r"\l{}",
    "Ł": r"\L{}",
    "ı": r"\i{}",
    "ς": r"$\varsigma$",
    "–": "--",
    "—": "---",
    "\u00a0": "~",
}
_ACCENTS = {
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0304": "=",
    "\u0306": "u",
    "\u0307": ".",
    "\u0308": '"',
    "\u030a": "r",
    "\u030b": "H",
    "\u030c": "v",
    "\u0327": "c",
    "\u0328": "k",
}
_WHITESPACE = set("\t\n\r\v\f\x85\u2028\u2029")


def _non_ascii(char: str) -> str:
    """One character outside printable ASCII, as plain LaTeX can typeset it."""
    if char in _WHITESPACE:
        return " "  # a newline (or a blank line) in a name would end the row, the caption or the paragraph
    if char in _GREEK:
        return f"$\\{_GREEK[char]}$"
    if char in _LETTERS:
        return _LETTERS[char]
    base, *marks = unicodedata.normalize("NFD", char)
    if marks and base.isascii() and base.isalpha() and all(mark in _ACCENTS for mark in marks):
        text = "\\i" if base == "i" else base  # a dotless i under an accent
        for mark in marks:
            text = f"\\{_ACCENTS[mark]}{{{text}}}"
        return text
    return f"\\texttt{{U+{ord(char):04X}}}"


def escape(text: str) -> str:
    """``text`` with every LaTeX special character escaped (and ×, µ, · as math), every character beyond
    ASCII typeset as plain LaTeX can (accented Latin, Greek) or written as its code point: a name
    compiles under a bare pdflatex whatever it holds."""
    escaped = _SPECIAL_RE.sub(lambda m: _SPECIAL[m.group(0)], str(text))
    return "".join(c if " " <= c <= "~" else _non_ascii(c) for c in escaped)


_COUNT_SCALES = ((1e9, "G"), (1e6, "M"), (1e3, "K"))
_ENERGY_SCALES = ((1.0, "mJ"), (1e-3, r"$\mu$J"), (1e-6, "nJ"), (1e-9, "pJ"))  # of a value in mJ


@dataclass
class _Row:
    name: str
    kind: str  # the layer type, or the number of layers in a block
    params: float = 0.0
    dense_macs: float = 0.0
    acs: float = 0.0
    macs: float = 0.0
    synops: float = 0.0
    compute_mj: float = 0.0
    memory_mj: float = 0.0
    energy_mj: float = 0.0
    spikes: float = 0.0  # spike rate × neuron updates, to average rates over a block
    updates: float = 0.0
    layers: list[str] = field(default_factory=list)

    @property
    def spike_rate(self) -> float | None:
        return self.spikes / self.updates if self.updates else None


def _rows(report: Report, granularity: str, block_depth: int) -> list[_Row]:
    rows: dict[str, _Row] = {}
    for index, layer in enumerate(report.layers):
        name = layer.name or "(model)"
        if granularity == "block":
            key = ".".join(name.split(".")[:block_depth])
        else:
            key = f"{index}"
        row = rows.setdefault(key, _Row(key if granularity == "block" else name, layer.type))
        row.layers.append(name)
        row.params += layer.params
        row.dense_macs += layer.dense_macs
        row.acs += layer.acs
        row.macs += layer.macs
        row.synops += layer.synops
        row.compute_mj += compute_energy_mj(layer, report)
        row.memory_mj += memory_energy_mj(layer, report)
        row.energy_mj += layer.energy_mj
        if layer.output_spike_rate is not None and layer.neuron_updates:
            row.spikes += layer.output_spike_rate * layer.neuron_updates
            row.updates += layer.neuron_updates
    if granularity == "block":
        for row in rows.values():
            row.kind = str(len(row.layers))
    return list(rows.values())


def _total(rows: list[_Row]) -> _Row:
    total = _Row("Total", "")
    for row in rows:
        for name in ("params", "dense_macs", "acs", "macs", "synops", "compute_mj", "memory_mj", "energy_mj"):
            setattr(total, name, math.fsum((getattr(total, name), getattr(row, name))))
        total.spikes += row.spikes
        total.updates += row.updates
    return total


def _column(values: list[float], scales: tuple[tuple[float, str], ...], smallest: tuple[float, str]):
    """A column's unit (the largest in which its largest value is at least 1; ``smallest`` below them
    all) and a formatter giving its largest value three significant digits, the others as many decimals
    (and a non-zero value too small for them "<0.01")."""
    top = max((abs(v) for v in values), default=0.0)
    factor, unit = next(((f, u) for f, u in scales if top >= f), smallest)
    if factor == 1.0 and all(float(v).is_integer() for v in values):
        return unit, lambda v: f"{int(v):,}".replace(",", r"\,")
    scaled_top = top / factor
    decimals = 2 if scaled_top < 10 else 1 if scaled_top < 100 else 0
    # A value that is not zero never prints as 0: below the column's resolution it reads "<0.01".
    resolution = 10.0**-decimals
    below = f"$<${resolution:.{decimals}f}"

    def cell(v: float) -> str:
        if v == 0:
            return "0"
        return below if abs(v / factor) < resolution / 2 else f"{v / factor:.{decimals}f}"

    return unit, cell


def report_latex(report: Report, granularity: str = "layer", block_depth: int = 1, label: str | None = None) -> str:
    if granularity not in GRANULARITIES:
        raise SyopsError(f"unknown table granularity {granularity!r}; expected layer or block")
    if not isinstance(block_depth, int) or block_depth < 1:
        raise SyopsError(f"block_depth must be a positive integer, got {block_depth!r}")
    rows = _rows(report, granularity, block_depth)
    total = _total(rows)
    everything = [*rows, total]
    with_memory = memory_model(report) is not None

    columns: list[tuple[str, str, object]] = [
        ("Block" if granularity == "block" else "Layer", "l", lambda r: escape(r.name)),
        (
            "Layers" if granularity == "block" else "Type",
            "l" if granularity == "layer" else "r",
            lambda r: escape(r.kind),
        ),
    ]
    for attr, header in (
        ("params", "Params"),
        ("dense_macs", "Dense MACs"),
        ("synops", "SynOps"),
        ("acs", "ACs"),
        ("macs", "MACs"),
    ):
        unit, fmt = _column([getattr(r, attr) for r in everything], _COUNT_SCALES, (1.0, ""))
        title = f"{header} ({unit})" if unit else header
        columns.append((title, "r", lambda r, a=attr, f=fmt: f(getattr(r, a))))
    columns.append(("Spike rate (\\%)", "r", lambda r: "--" if r.spike_rate is None else f"{100 * r.spike_rate:.2f}"))
    energies = (
        [("compute_mj", "Compute"), ("memory_mj", "Memory"), ("energy_mj", "Energy")]
        if with_memory
        else [("energy_mj", "Energy")]
    )
    for attr, header in [] if report.targets else energies:
        unit, fmt = _column([getattr(r, attr) for r in everything], _ENERGY_SCALES, _ENERGY_SCALES[-1])
        columns.append((f"{header} ({unit})", "r", lambda r, a=attr, f=fmt: f(getattr(r, a))))
    columns += _target_columns(report, granularity, block_depth, rows, total)

    spec = "@{}" + "".join(align for _, align, _ in columns) + "@{}"
    lines = [
        f"% syops {report.syops_version}: {'per-block' if granularity == 'block' else 'per-layer'} costs of "
        f"{_comment(report.model)}; needs \\usepackage{{booktabs}}",
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{_caption(report, granularity, block_depth)}}}",
        f"\\label{{{label or _label(report)}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(title for title, _, _ in columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(row) for _, _, cell in columns) + r" \\" for row in rows]  # type: ignore[operator]
    total_cells = [cell(total) for _, _, cell in columns]  # type: ignore[operator]
    total_cells[1] = ""
    lines += [r"\midrule", " & ".join(total_cells) + r" \\", r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    lines += phases_latex(report, f"{label or _label(report)}-phases")
    return "\n".join(lines) + "\n"


def _target_columns(report: Report, granularity: str, block_depth: int, rows: list[_Row], total: _Row) -> list:
    """A side-by-side report: one energy column per target (compute + memory where it has memory), the
    target's layers grouped as this report's (the same layers, in the same order)."""
    from .targets import target_label

    columns = []
    for target in report.targets:
        target_rows = _rows(target, granularity, block_depth)
        energies = [r.energy_mj for r in target_rows] + [_total(target_rows).energy_mj]
        unit, fmt = _column(energies, _ENERGY_SCALES, _ENERGY_SCALES[-1])
        by_row = {id(r): e for r, e in zip([*rows, total], energies, strict=True)}
        columns.append((f"{escape(target_label(target))} ({unit})", "r", lambda r, m=by_row, f=fmt: f(m[id(r)])))
    return columns


def _comment(text: str) -> str:
    """``text`` for a ``%`` comment: one line, control characters shown escaped."""
    return " ".join(visible(" ".join(str(text).split())).split())


def _caption(report: Report, granularity: str, block_depth: int) -> str:
    model = report.energy_model
    costs = energy_costs(report, "~")
    source = f"; {escape(model.source)}" if model.source else ""
    view = per_what(report)
    samples = f"{report.samples} sample{'s' if report.samples != 1 else ''}"
    blocks = f", layers grouped by the first {block_depth} part(s) of their names" if granularity == "block" else ""
    neurons = "neuron updates included" if report.count_neuron_updates else "neuron updates not counted"
    words = word_width_text(report)
    return (
        f"Costs of \\texttt{{{escape(report.model)}}} {view} (input {escape(shape_text(report.input_shape))}, "
        f"$T = {report.timesteps}$, averaged over {samples}{blocks}; {neurons}). Energy model "
        f"{escape(model.name)} ({', '.join(costs)}{source}); memory model {escape(memory_model_text(report))}"
        f"{'; ' + escape(words) if words else ''}. "
        f"{_targets_caption(report)}Counted with syops {escape(report.syops_version)}."
    )


def _targets_caption(report: Report) -> str:
    """The energy columns of a side-by-side report, each target with its source."""
    if not report.targets:
        return ""
    from .targets import target_label

    parts = [
        escape(target_label(t)) + (f" ({escape(t.energy_model.source)})" if t.energy_model.source else "")
        for t in report.targets
    ]
    return f"Energy per sample on each target: {'; '.join(parts)}. "


def _label(report: Report) -> str:
    return "tab:syops-" + (re.sub(r"[^A-Za-z0-9]+", "-", report.model).strip("-").lower() or "model")
