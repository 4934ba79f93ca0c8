"""`syops --help` and each command's `--help` start without torch (torch alone takes seconds to import),
and the option values the CLI spells out for that reason are the library's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import syops
from syops import events, inputs, validate, zoo
from syops.cli import choices
from syops.cli.main import main as cli

COMMANDS = sorted(cli.commands)
# A child that runs `syops [COMMAND] --help` and reports the modules it imported.
PROBE = (
    "import json, sys\n"
    "from syops.cli.main import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
)
HEAVY = ("torch", "numpy", "spikingjelly", "sinabs", "snntorch", "norse", "nir", "torchvision", "torchmetrics")


def _help(*args: str) -> tuple[dict, str, float]:
    root = str(Path(syops.__file__).resolve().parent.parent)  # the syops this test imported
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--help"], capture_output=True, text=True, timeout=120, env=env
    )
    elapsed = time.perf_counter() - started
    return json.loads(run.stderr.strip().splitlines()[-1]), run.stdout, elapsed


def test_commands_are_the_known_ones():
    assert COMMANDS == ["compare", "dynapcnn", "energy-models", "profile", "train-step", "zoo"]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_no_torch(command):
    result, text, _ = _help(*([command] if command else []))
    assert result["code"] == 0 and "Usage: syops" in text
    heavy = [m for m in result["modules"] if m.split(".")[0] in HEAVY]
    assert heavy == [], f"syops {command} --help imported {heavy[:5]}"
    library = {m for m in result["modules"] if m.startswith("syops.") and not m.startswith("syops.cli")}
    # the torch-free helpers the CLI's options and output need: names as text, table fitting, atomic writes
    light = {"syops._version", "syops.errors", "syops.units", "syops.safe_text", "syops.report_table", "syops.atomic"}
    assert library <= light


def test_group_help_lists_every_command_and_is_quick():
    _, text, elapsed = _help()
    assert all(name in text for name in COMMANDS)
    # well under the 2-3 s that importing torch took (a loaded CI machine gets a generous margin)
    assert elapsed < 2.0, f"syops --help took {elapsed:.2f} s"


def test_choices_are_the_librarys():
    assert choices.TIME_LAYOUTS == inputs.TIME_LAYOUTS
    assert choices.ENCODINGS == inputs.ENCODINGS
    assert choices.SPIKE_MODES == events.SPIKE_MODES
    assert (choices.SEED_LIMIT, choices.SIZE_LIMIT) == (validate.SEED_LIMIT, validate.SIZE_LIMIT)
    assert choices.TABLE_MEMORY == zoo.TABLE_MEMORY


def test_lazy_package_loads_every_public_name():
    for name in syops.__all__:
        assert getattr(syops, name) is not None, name
    assert syops.profile.__module__ == "syops.profiler" and syops.Report.__module__ == "syops.report"
    with pytest.raises(AttributeError):
        syops.no_such_name  # noqa: B018
