"""The zoo table, model_zoo_results.md: its rows, its cells, and writing and checking the document.

``ZOO_TABLE`` is the one list of the table's rows; ``table_cells`` profiles a row (a model of the
registry) and ``render_document`` / ``update_document`` / ``stale_cells`` write and check the file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import SyopsError
from .registry import get


@dataclass(frozen=True)
class ZooRow:
    """A row of model_zoo_results.md: a zoo model with build options, and whether its DYNAP-CNN fit is
    reported."""

    label: str
    model: str
    options: Mapping[str, str] = field(default_factory=dict)
    dynapcnn: bool = False


# The rows of model_zoo_results.md, in order (issue 6 decides them).
ZOO_TABLE: tuple[ZooRow, ...] = (
    ZooRow("spiking_resnet18", "spiking_resnet18"),
    ZooRow("spiking_resnet34", "spiking_resnet34"),
    ZooRow("sew_resnet18 (ADD)", "sew_resnet18", {"cnf": "ADD"}),
    ZooRow("sew_resnet18 (IAND)", "sew_resnet18", {"cnf": "IAND"}),
    ZooRow("dsnn18", "dsnn18"),
    ZooRow("spiking_vgg11", "spiking_vgg11"),
    ZooRow("spikformer_block", "spikformer_block"),
    ZooRow("dynapcnn_nmnist", "dynapcnn_nmnist", dynapcnn=True),
    ZooRow("snntorch_mlp", "snntorch_mlp"),
    ZooRow("digits_scnn (trained)", "digits_scnn_trained"),
    ZooRow("resnet18", "resnet18"),
    ZooRow("resnet34", "resnet34"),
    ZooRow("resnet50", "resnet50"),
    ZooRow("mobilenet_v2", "mobilenet_v2"),
    ZooRow("vit_b_16", "vit_b_16"),
)

TABLE_ENERGY = "45nm-fp32"
TABLE_MEMORY = "sram-45nm"
TABLE_SEED = 0
TABLE_COLUMNS: tuple[str, ...] = (
    "Model",
    "Input",
    "T",
    "Params (M)",
    "ACs (G)",
    "MACs (G)",
    "SynOps (G)",
    "Compute (mJ)",
    "Memory (mJ)",
    "Energy (mJ)",
    "Compute vs ANN",
    "Energy vs ANN",
    "Mean spike rate",
    "Notes",
)
BEGIN_MARK = "<!-- syops zoo: begin generated table -->"
END_MARK = "<!-- syops zoo: end generated table -->"

# syops-counter's published figures (its README, v0.0.5: ImageNet-trained weights, 224×224 validation
# images, T = 4): (its name, the zoo table row syops compares it with, ACs (G), MACs (G), energy (mJ)).
SYOPS_COUNTER_FIGURES: tuple[tuple[str, str, str, str, str], ...] = (
    ("spiking_resnet18", "spiking_resnet18", "0.10", "0.14", "0.734"),
    ("sew_resnet18", "sew_resnet18 (ADD)", "0.50", "2.75", "13.10"),
    ("DSNN18 (AAP)", "dsnn18", "1.69", "0.20", "2.44"),
    ("resnet18", "resnet18", "0.00", "1.82", "8.372"),
)
COMPARISON_COLUMNS: tuple[str, ...] = (
    "Model",
    "syops-counter ACs (G)",
    "syops-counter MACs (G)",
    "syops-counter energy (mJ)",
    "syops ACs (G)",
    "syops MACs (G)",
    "syops SynOps (G)",
    "syops compute energy (mJ)",
    "syops mean spike rate",
)
COMPARISON_BEGIN_MARK = "<!-- syops zoo: begin syops-counter comparison -->"
COMPARISON_END_MARK = "<!-- syops zoo: end syops-counter comparison -->"
# Numeric cells may differ this much (relative) and still count as up to date: the last of four
# significant digits, where a float32 threshold crossing flips on another CPU's instruction set.
CHECK_TOLERANCE = 2e-3


def select_rows(names: Iterable[str] | None) -> list[ZooRow]:
    """The table rows named by label or by model name (all rows for None), in table order."""
    if names is None:
        return list(ZOO_TABLE)
    wanted = [n.strip() for n in names if n.strip()]
    known = {row.label for row in ZOO_TABLE} | {row.model for row in ZOO_TABLE}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; rows: {', '.join(r.label for r in ZOO_TABLE)}"
        raise SyopsError(f"no zoo table row {unknown[0]!r}{hint}")
    return [row for row in ZOO_TABLE if row.label in wanted or row.model in wanted]


def _significant(value: float, digits: int = 4) -> str:
    return "0" if value == 0 else f"{value:.{digits}g}"


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.3f}×" if baseline else "-"


def table_cells(row: ZooRow, *, seed: int = TABLE_SEED, memory: str = TABLE_MEMORY) -> dict[str, str]:
    """Profile one table row (random init and input from ``seed``, memory traffic priced by ``memory``)
    and format its cells; the ratios are against the one-pass ANN baseline (docs/contract.md)."""
    from ..dynapcnn import dynapcnn_report
    from ..profiler import profile

    entry = get(row.model)
    options = entry.resolve_options(row.options)
    model = entry.make(options, seed=seed)
    layout = entry.layout_for(options)
    report = profile(
        model,
        None if entry.data else entry.input_shape,
        dataloader=entry.data() if entry.data else None,
        timesteps=entry.timesteps,
        time_layout=layout,  # type: ignore[arg-type]
        input_encoding=entry.encoding,  # type: ignore[arg-type]
        energy=TABLE_ENERGY,
        memory=memory,
        seed=seed,
    )
    totals = report.totals
    rate = report.mean_spike_rate
    notes = []
    if entry.timesteps:
        neuron = f"{options['neuron']} neurons, " if "neuron" in options else ""
        encoding = entry.encoding or "direct"
        notes.append(f"{neuron}{layout} layout, {encoding} input")
    else:
        notes.append("ANN, dense input")
    if entry.note:
        notes.append(entry.note)
    if row.dynapcnn:
        fit = dynapcnn_report(model, entry.input_shape)
        if fit.fits:
            notes.append("fits DYNAP-CNN (cores " + ", ".join(str(layer.core) for layer in fit.layers) + ")")
        else:
            problems = fit.violations + [v for layer in fit.layers for v in layer.violations]
            notes.append(f"does not fit DYNAP-CNN: {problems[0]}")
    if report.unsupported:
        notes.append("no rule for " + ", ".join(report.unsupported))
    values = (
        row.label,
        "×".join(map(str, entry.input_shape)),
        str(entry.timesteps or 1),
        _significant(totals["params"] / 1e6),
        _significant(totals["acs"] / 1e9),
        _significant(totals["macs"] / 1e9),
        _significant(totals["synops"] / 1e9),
        _significant(totals["compute_energy_mj"]),
        _significant(totals["memory_energy_mj"]) if report.memory_model is not None else "-",
        _significant(totals["energy_mj"]),
        _ratio(totals["compute_energy_mj"], totals["ann_compute_energy_mj"]),
        _ratio(totals["energy_mj"], totals["ann_energy_mj"]) if report.memory_model is not None else "-",
        f"{100 * rate:.2f}%" if rate is not None else "-",
        "; ".join(notes),
    )
    return {column: _cell(value) for column, value in zip(TABLE_COLUMNS, values, strict=True)}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(rows: Sequence[Mapping[str, str]], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _generated_block(rows: Sequence[Mapping[str, str]]) -> str:
    return f"{BEGIN_MARK}\n{render_table(rows)}{END_MARK}\n"


def comparison_rows(cells: Mapping[str, Mapping[str, str]]) -> list[dict[str, str]]:
    """syops-counter's published figures beside syops' cells of the same architectures (rows whose zoo
    row is in ``cells``, by label)."""
    rows = []
    for name, label, acs, macs, energy in SYOPS_COUNTER_FIGURES:
        ours = cells.get(label)
        if ours is None:
            continue
        rows.append(
            {
                "Model": f"{name} (syops: {label})" if label != name else name,
                "syops-counter ACs (G)": acs,
                "syops-counter MACs (G)": macs,
                "syops-counter energy (mJ)": energy,
                "syops ACs (G)": ours["ACs (G)"],
                "syops MACs (G)": ours["MACs (G)"],
                "syops SynOps (G)": ours["SynOps (G)"],
                "syops compute energy (mJ)": ours["Compute (mJ)"],
                "syops mean spike rate": ours["Mean spike rate"],
            }
        )
    return rows


def _comparison_block(cells: Mapping[str, Mapping[str, str]]) -> str:
    table = render_table(comparison_rows(cells), COMPARISON_COLUMNS)
    return f"{COMPARISON_BEGIN_MARK}\n{table}{COMPARISON_END_MARK}\n"


DOCUMENT_COMPARISON = """
## syops-counter's published figures beside syops'

syops-counter's README lists four ImageNet models; the same architectures from syops' zoo are below
(DSNN-18 rebuilt from its paper's description, see `syops/models/dsnn.py`). The two sets of numbers are not
expected to agree, and each difference has a reason:

1. **Weights and data.** syops-counter measured ImageNet-trained networks on validation images; the zoo
   uses random weights and one random image, so spike rates, and with them every event-driven count,
   differ. These rows compare how each tool counts an architecture, not trained accuracy-matched costs.
2. **The first layer.** syops-counter's spiking ResNet samples run the 7×7 stem convolution once and
   repeat its output over T = 4 steps, so their MACs (0.14 G, 0.20 G) are about one pass of the stem
   (0.118 G). spikingjelly's multi-step models, profiled here, convolve each of the T copies: 4 × 0.118 G
   dense MACs, as the direct encoding computes them. syops-counter's spiking ResNet also uses LIF neurons
   where the zoo's default is IF (`syops profile spiking_resnet18 --neuron LIF` profiles that variant).
3. **Counting method.** syops-counter counts a layer's ACs as its dense operation count × its input's
   firing rate, and treats an input as spikes only when its values are within {0, 1} (read with
   `unique()` on every call). syops sums each event's exact, border-aware fan-out. The integer {0, 1, 2}
   outputs of SEW ADD connections are dense to syops-counter (its sew_resnet18 has 2.75 G MACs); syops
   counts them as events.
4. **Neuron updates.** syops-counter adds each neuron's input elements as ACs (times the input's rate)
   and, for LIF neurons, as MACs too; syops counts one update per neuron and time step, an AC for IF and
   a MAC for leaky neurons (`count_neuron_updates=False` leaves them out).
5. **Functional operations.** syops-counter does not see residual additions, SEW / IAND connections or
   the accumulation pathway's additions; syops counts each once (752,640 additions in ResNet-18).
6. **Per sample.** syops-counter divides by the number of samples its batch counter saw, a figure that
   its DataLoader loop and its random-input path compute differently; syops divides every count by the
   samples actually profiled.
7. **Energy.** syops-counter's energy is compute only (ACs and MACs at 45 nm fp32), so the comparable
   syops figure is the *compute* energy below. syops also prices the memory traffic (the *Memory*
   column above) and compares with an ANN that runs once per sample; syops 0.1 compared an SNN with its
   own dense cost over all T steps, a ratio flattered by exactly T.

How each of these plays out on one model, against syops-counter 0.0.5 itself, is measured in
[docs/how-syops-counts.md](docs/how-syops-counts.md).

"""


DOCUMENT_HEAD_TEMPLATE = """# syops model zoo

Per-sample costs of the models in syops' zoo, generated by `syops zoo` and checked in CI with
`syops zoo --check`. How the numbers were obtained:

- Every model is randomly initialised (`torch.manual_seed({TABLE_SEED})`); no weights are downloaded.
  The one exception, *digits_scnn (trained)*, is trained while the table is made: 5 epochs on
  scikit-learn's bundled digits, seeded and deterministic on CPU (`syops/models/digits.py`).
- The input is one seeded random sample (seed {TABLE_SEED}) of the shape in the *Input* column. ANNs and
  `direct`-encoded spiking models get a standard-normal image, repeated over the T time steps; `poisson`
  models get spike trains drawn from uniform random firing probabilities. The trained model is profiled
  on its 359 held-out digits instead (grey levels scaled to [0, 1], repeated over T).
- Counts are per sample over all T steps: ACs include synaptic operations (SynOps) and the updates of
  non-leaky neurons, MACs the dense operations and the updates of leaky neurons. *Compute* prices them
  with the {TABLE_ENERGY} preset (Horowitz, ISSCC 2014: 0.9 pJ per AC, 4.6 pJ per MAC); *Memory* prices
  every weight, bias, input, state and output access with the {memory} memory model (see
  [docs/energy.md](docs/energy.md)); *Energy* is their sum.
- The ratios compare with the ANN baseline: the same architecture as a conventional network, run once
  per sample (its dense MACs ÷ T at the MAC cost; with memory, its dense dataflow for one time step).
  *Compute vs ANN* divides the model's compute energy by the ANN's compute energy; *Energy vs ANN*
  divides the model's energy (compute + memory) by the ANN's energy (compute + memory). Above 1× the
  model costs more than the ANN, below 1× less.
- Random weights make spike rates differ from those of trained networks: read the table as the cost of
  the architecture under this input, not as a benchmark of a trained model.
"""


def document_head(memory: str = TABLE_MEMORY) -> str:
    return DOCUMENT_HEAD_TEMPLATE.format(TABLE_SEED=TABLE_SEED, TABLE_ENERGY=TABLE_ENERGY, memory=memory)


DOCUMENT_HEAD = document_head()


def render_document(rows: Sequence[Mapping[str, str]], memory: str = TABLE_MEMORY) -> str:
    """A whole model_zoo_results.md: the explanation, the generated table and the syops-counter
    comparison derived from it."""
    cells = {row["Model"]: row for row in rows}
    head = document_head(memory)
    return f"{head}\n{_generated_block(rows)}{DOCUMENT_COMPARISON}{_comparison_block(cells)}"


def parse_table(text: str, marks: tuple[str, str] = (BEGIN_MARK, END_MARK)) -> dict[str, dict[str, str]]:
    """The generated table of a document (between the markers), as cells by row label and column."""
    block = _between_marks(text, marks)
    if block is None:
        raise SyopsError(f"no generated table found (expected the lines {marks[0]} and {marks[1]})")
    lines = [line for line in block.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return {}
    header = _split_row(lines[0])
    rows: dict[str, dict[str, str]] = {}
    for line in lines[2:]:
        cells = _split_row(line)
        row = dict(zip(header, cells, strict=False))
        rows[row.get("Model", "")] = row
    return rows


def _split_row(line: str) -> list[str]:
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", inner)]


def _between_marks(text: str, marks: tuple[str, str] = (BEGIN_MARK, END_MARK)) -> str | None:
    start, end = text.find(marks[0]), text.find(marks[1])
    if start < 0 or end < start:
        return None
    return text[start + len(marks[0]) : end]


def update_document(existing: str | None, fresh: Sequence[Mapping[str, str]]) -> str:
    """``existing`` with its generated table replaced; rows not recomputed keep their cells, and the text
    outside the markers is kept. Without a document (or its markers), a new one."""
    if existing is None or _between_marks(existing) is None:
        return render_document(fresh)
    old = parse_table(existing)
    by_label = {row["Model"]: row for row in fresh}
    labels = [row.label for row in ZOO_TABLE if row.label in by_label or row.label in old]
    rows = [by_label.get(label) or _complete(old[label]) for label in labels]
    start = existing.index(BEGIN_MARK)
    end = existing.index(END_MARK) + len(END_MARK)
    document = existing[:start] + _generated_block(rows).rstrip("\n") + existing[end:]
    cells = {row["Model"]: row for row in rows}
    comparison = _comparison_block(cells).rstrip("\n")
    if _between_marks(document, (COMPARISON_BEGIN_MARK, COMPARISON_END_MARK)) is None:
        return document.rstrip("\n") + "\n" + DOCUMENT_COMPARISON + comparison + "\n"
    start = document.index(COMPARISON_BEGIN_MARK)
    end = document.index(COMPARISON_END_MARK) + len(COMPARISON_END_MARK)
    return document[:start] + comparison + document[end:]


def _complete(row: Mapping[str, str]) -> dict[str, str]:
    return {column: row.get(column, "") for column in TABLE_COLUMNS}


def stale_cells(existing: str, fresh: Sequence[Mapping[str, str]], *, all_rows: bool = False) -> list[str]:
    """Every cell of the recomputed rows that differs from the document's, as 'row / column: file has
    X, recomputed Y'; a row missing from the document is one entry, and with ``all_rows`` (the whole
    table was recomputed) so is a row of the document that the table no longer has."""
    old = parse_table(existing)
    differences = []
    if all_rows:
        current = {row["Model"] for row in fresh}
        differences += [f"{label}: row no longer in the zoo table" for label in old if label not in current]
    for row in fresh:
        label = row["Model"]
        if label not in old:
            differences.append(f"{label}: row missing from the file")
            continue
        for column in TABLE_COLUMNS[1:]:
            have = old[label].get(column, "")
            if not _same_cell(have, row[column]):
                differences.append(f"{label} / {column}: file has {have!r}, recomputed {row[column]!r}")
    expected = parse_table(update_document(existing, fresh), (COMPARISON_BEGIN_MARK, COMPARISON_END_MARK))
    marks = (COMPARISON_BEGIN_MARK, COMPARISON_END_MARK)
    written = parse_table(existing, marks) if _between_marks(existing, marks) is not None else {}
    for label, cells in expected.items():
        for column in COMPARISON_COLUMNS[1:]:
            have = written.get(label, {}).get(column, "")
            if not _same_cell(have, cells[column]):
                differences.append(f"comparison {label} / {column}: file has {have!r}, recomputed {cells[column]!r}")
    return differences


def _number(cell: str) -> float | None:
    try:
        return float(cell.rstrip("×%"))
    except ValueError:
        return None


def _same_cell(have: str, fresh: str) -> bool:
    """Equal text, or numbers within CHECK_TOLERANCE of each other."""
    if have == fresh:
        return True
    a, b = _number(have), _number(fresh)
    return a is not None and b is not None and abs(a - b) <= CHECK_TOLERANCE * max(abs(a), abs(b))


__all__ = [
    "BEGIN_MARK",
    "CHECK_TOLERANCE",
    "COMPARISON_BEGIN_MARK",
    "COMPARISON_COLUMNS",
    "COMPARISON_END_MARK",
    "DOCUMENT_COMPARISON",
    "DOCUMENT_HEAD",
    "END_MARK",
    "SYOPS_COUNTER_FIGURES",
    "TABLE_COLUMNS",
    "TABLE_ENERGY",
    "TABLE_SEED",
    "ZOO_TABLE",
    "ZooRow",
    "comparison_rows",
    "parse_table",
    "render_document",
    "render_table",
    "select_rows",
    "stale_cells",
    "table_cells",
    "update_document",
]
