"""``syops zoo``: (re)generate or check model_zoo_results.md; ``--list`` shows the zoo's models."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from rich.table import Table

from syops import SyopsError

from .choices import TABLE_MEMORY
from .files import STDOUT, SUFFIXES, check_output, output_option, overwrite_option
from .output import emit, emit_rich, note
from .params import debug_option, parse_list, quiet_option

DEFAULT_FILE = Path("model_zoo_results.md")


@click.command("zoo")
@output_option("Write (or update) this markdown file (- for stdout).")
@overwrite_option
@click.option("--check", is_flag=True, help="Recompute and exit 1, listing the differing cells, if the file is stale.")
@click.option("--models", "names", metavar="A,B", help="Only these rows (labels or model names).")
@click.option("--list", "list_models", is_flag=True, help="List the zoo's models and their default inputs.")
@click.option(
    "--memory",
    default=TABLE_MEMORY,
    show_default=True,
    metavar="NAME|FILE",
    help="Memory model pricing the Memory column: a preset (syops energy-models) or a TOML file.",
)
@quiet_option
@debug_option
def zoo_command(
    output: Path | None,
    overwrite: bool,
    check: bool,
    names: str | None,
    list_models: bool,
    memory: str,
    quiet: bool,
) -> None:
    """Generate the model zoo table (model_zoo_results.md), or check that it is up to date.

    Without --output the document is printed. With --output an existing file keeps its text outside the
    generated table and, with --models, the rows not recomputed; a file without the generated table is
    refused unless --overwrite.
    """
    from syops import zoo  # with torch: at work, not for --help
    from syops.memory import resolve_memory

    memory_file = [memory] if os.path.exists(memory) else []
    if list_models:
        check_output(output, inputs=memory_file, overwrite=overwrite, suffixes=SUFFIXES["table"])
        emit_rich(_listing(), output, quiet)
        return
    if output == STDOUT:
        if check:
            raise SyopsError("--check reads a file: give --output FILE (or none, for model_zoo_results.md), not -")
        output = None  # the document on stdout, as without --output
    # The zoo updates its own document in place (its markers say where); a foreign file is refused below.
    check_output(output, inputs=memory_file, overwrite=True, suffixes=SUFFIXES["markdown"])
    resolve_memory(memory)  # a bad memory model fails before any work
    wanted = parse_list(names)
    if wanted is not None and not wanted:
        raise SyopsError(f"--models {names!r} names no row; give labels or model names, e.g. --models A,B")
    rows = zoo.select_rows(wanted)
    path = output or DEFAULT_FILE
    existing = None
    if check or output is not None:
        if path.exists():
            try:
                existing = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SyopsError(f"cannot read {path}: {exc.strerror or exc}") from None
        elif check:
            raise SyopsError(f"{path} does not exist; generate it with: syops zoo --output {path}")
    if check:
        zoo.parse_table(existing or "")  # a file without the generated table is an error, before any work
    elif existing is not None and not _refuse_foreign(path, existing, overwrite):
        existing = None  # --overwrite: a fresh document replaces the foreign file
    cells = []
    for index, row in enumerate(rows, 1):
        started = time.perf_counter()
        cells.append(zoo.table_cells(row, memory=memory))
        if not quiet:
            note(f"[{index}/{len(rows)}] {row.label}: {time.perf_counter() - started:.1f} s", kind="zoo")
    if check:
        differences = zoo.stale_cells(existing or "", cells, all_rows=names is None)
        if differences:
            for line in differences:
                click.echo(line)
            note(
                f"{path} is stale: {len(differences)} difference(s); regenerate it with syops zoo --output {path}",
                kind="error",
            )
            click.get_current_context().exit(1)
        if not quiet:
            note(f"{path} is up to date ({len(rows)} row(s) checked)")
        return
    if output is None:
        emit(zoo.render_document(cells, memory=str(memory)), None)
    else:
        emit(zoo.update_document(existing, cells), output, quiet)


def _refuse_foreign(path: Path, existing: str, overwrite: bool) -> bool:
    """An existing --output file must hold the generated table (both markers, in order): syops then
    replaces only the table (True). Any other file is the user's, and is left as it is, unless
    --overwrite (False: it is replaced whole)."""
    from syops import zoo

    try:
        zoo.parse_table(existing)
    except SyopsError:
        if overwrite:
            return False
        raise SyopsError(
            f"{path} exists and holds no syops zoo table (the lines {zoo.BEGIN_MARK} and {zoo.END_MARK}); "
            "refusing to overwrite it: choose another --output, add those two lines where the table goes, "
            "or add --overwrite to replace the whole file"
        ) from None
    return True


def _listing() -> Table:
    from syops import zoo

    table = Table(title="syops zoo (any torchvision classification model name works too)", header_style="bold")
    for column in ("Name", "Input", "T", "Layout", "Encoding", "Options", "Needs", "Description"):
        table.add_column(column)
    for entry in zoo.ZOO.values():
        options = "; ".join(f"{k}: {'|'.join(v)}" for k, v in entry.options.items())
        table.add_row(
            entry.name,
            "×".join(map(str, entry.input_shape)),
            str(entry.timesteps or "-"),
            entry.time_layout or "-",
            entry.encoding or ("direct" if entry.timesteps else "-"),
            options,
            entry.requires,
            entry.description,
        )
    return table
