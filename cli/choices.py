"""The values the commands' options offer, spelled here without importing torch: `syops --help` and each
command's `--help` build their options from these. tests/test_cli_startup.py checks that each equals the
library's own (syops.inputs, syops.events, syops.validate, syops.zoo)."""

TIME_LAYOUTS: tuple[str, ...] = ("TB", "BT", "loop")
ENCODINGS: tuple[str, ...] = ("direct", "poisson")
SPIKE_MODES: tuple[str, ...] = ("integer", "binary")
SEED_LIMIT = 1 << 64  # seeds torch accepts: [0, 2**64)
SIZE_LIMIT = 1 << 31  # beyond it no tensor dimension is allocatable
TABLE_MEMORY = "sram-45nm"  # the memory model of the zoo table's Memory column
