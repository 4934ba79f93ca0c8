"""A --kwarg the factory does not take is one line naming the kwarg and the factory (and the arguments it
takes, or the close ones), not the TypeError of whatever callee the factory handed it on to."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from syops.cli.main import main as cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _error(result) -> str:
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "kwarg_factories.py").write_text(
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, width, depth=1):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(width, width)\n"
        "def passes_on(channels=2, **kwargs):\n"
        "    return nn.Sequential(Block(channels, **kwargs))\n"
        "def plain(width=3):\n"
        "    return nn.Linear(width, 2)\n"
        "def broken(width=3):\n"
        "    raise TypeError(\"helper() got an unexpected keyword argument 'width'\")\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("kwarg_factories", None)


def test_typo_in_a_plain_factory(factories):
    line = _error(invoke("profile", "kwarg_factories:plain", "--kwarg", "widht=4", "--input-shape", "4"))
    assert line == "syops: error: --kwarg widht=4: kwarg_factories:plain takes no argument 'widht'; did you mean width?"


def test_typo_handed_on_names_the_factory_and_every_argument_on_the_way(factories):
    line = _error(invoke("profile", "kwarg_factories:passes_on", "--kwarg", "dpth=2", "--input-shape", "2"))
    assert "--kwarg dpth=2: kwarg_factories:passes_on takes no argument 'dpth'; did you mean depth" in line
    assert "__init__" not in line
    line = _error(invoke("profile", "kwarg_factories:passes_on", "--kwarg", "zzz=2", "--input-shape", "2"))
    assert line.endswith("takes no argument 'zzz' (its arguments: channels, width, depth)")


def test_a_typeerror_about_something_else_is_left_as_it_was(factories):
    line = _error(invoke("profile", "kwarg_factories:broken", "--kwarg", "width=2", "--input-shape", "2"))
    assert "kwarg_factories:broken(width=2) failed: TypeError" in line  # width is the factory's own argument


def test_zoo_models():
    line = _error(invoke("profile", "resnet18", "--kwarg", "num_clases=3"))
    assert line.startswith("syops: error: --kwarg num_clases=3: the zoo model resnet18 takes no argument 'num_clases'")
    assert "did you mean num_classes" in line
    line = _error(invoke("profile", "snntorch_mlp", "--kwarg", "betta=0.5"))
    assert line.endswith("the zoo model snntorch_mlp takes no argument 'betta' (it takes no arguments)")
    line = _error(invoke("dynapcnn", "dynapcnn_nmnist", "--kwarg", "foo=1"))
    assert "the zoo model dynapcnn_nmnist takes no argument 'foo'" in line


def test_spikingjelly_typo_is_not_blamed_on_ifnode():
    pytest.importorskip("spikingjelly")
    line = _error(invoke("profile", "spiking_resnet18", "--kwarg", "v_threshol=0.5"))
    assert "IFNode" not in line and "--kwarg v_threshol=0.5: the zoo model spiking_resnet18" in line
    assert "did you mean v_threshold?" in line  # IFNode's own argument, reached through the model's **kwargs
    line = _error(invoke("profile", "sew_resnet18", "--kwarg", "cfn=IAND"))
    assert "did you mean cnf?" in line  # the zoo option
