"""Built-in models that the command line (and the zoo table) can profile by name, and the zoo table.

Two parts: ``registry`` (``ZooEntry``, ``register``, the entries and their factories, ``get`` / ``build``)
and ``table`` (the rows of model_zoo_results.md, ``table_cells``, and ``render_document`` /
``update_document`` / ``stale_cells`` that write and check the file). Both are re-exported here, so
``from syops import zoo; zoo.get(...)`` and ``zoo.table_cells(...)`` work as before.
"""

from .registry import (
    SPIKINGJELLY_NEURONS,
    STEP_MODES,
    ZOO,
    ZooEntry,
    build,
    calibrate_batchnorm,
    get,
    register,
)
from .table import (
    BEGIN_MARK,
    CHECK_TOLERANCE,
    COMPARISON_BEGIN_MARK,
    COMPARISON_COLUMNS,
    COMPARISON_END_MARK,
    DOCUMENT_COMPARISON,
    DOCUMENT_HEAD,
    END_MARK,
    SYOPS_COUNTER_FIGURES,
    TABLE_COLUMNS,
    TABLE_ENERGY,
    TABLE_SEED,
    ZOO_TABLE,
    ZooRow,
    comparison_rows,
    parse_table,
    render_document,
    render_table,
    select_rows,
    stale_cells,
    table_cells,
    update_document,
)

__all__ = [
    "BEGIN_MARK",
    "CHECK_TOLERANCE",
    "COMPARISON_BEGIN_MARK",
    "COMPARISON_COLUMNS",
    "COMPARISON_END_MARK",
    "DOCUMENT_COMPARISON",
    "DOCUMENT_HEAD",
    "END_MARK",
    "SPIKINGJELLY_NEURONS",
    "STEP_MODES",
    "SYOPS_COUNTER_FIGURES",
    "TABLE_COLUMNS",
    "TABLE_ENERGY",
    "TABLE_SEED",
    "ZOO",
    "ZOO_TABLE",
    "ZooEntry",
    "ZooRow",
    "build",
    "calibrate_batchnorm",
    "comparison_rows",
    "get",
    "parse_table",
    "register",
    "render_document",
    "render_table",
    "select_rows",
    "stale_cells",
    "table_cells",
    "update_document",
]
