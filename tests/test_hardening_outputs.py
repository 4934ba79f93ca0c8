"""Issue 18: a user's files are never lost (-o of every command refuses an input, a file syops did not
write and a suffix that names no format; writes are atomic; -o - is stdout), user code that calls
sys.exit is one error line, and an endless --data iterable is said to be one."""

from __future__ import annotations

import json
import os
import stat
import sys
import uuid

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from syops import SyopsError
from syops.atomic import write_atomic
from syops.cli.main import main as cli

HERE = __name__
FOREIGN = b"my thesis, not a syops report\n"


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, *expected: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("syops"), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 4))


def profile_args(*extra: str) -> list[str]:
    return ["profile", f"{HERE}:linear", "--input-shape", "8", "-q", *extra]


def write_report(path) -> None:
    result = invoke(*profile_args("-o", path))
    assert result.exit_code == 0, result.output


# -- an input is never replaced ----------------------------------------------------------------------
def test_profile_refuses_to_write_over_its_checkpoint(tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    torch.save(linear().state_dict(), checkpoint)
    before = checkpoint.read_bytes()
    for extra in ((), ("--format", "json"), ("--overwrite",)):
        result = invoke(
            "profile", checkpoint, "--arch", f"{HERE}:linear", "--input-shape", "8", "-o", checkpoint, *extra
        )
        one_line_error(result, "is an input")
        assert checkpoint.read_bytes() == before


def test_compare_refuses_to_write_over_an_input_also_through_a_link(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_report(a)
    write_report(b)
    before = a.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(a)
    for target in (a, link, tmp_path / "." / "a.json"):
        one_line_error(invoke("compare", a, b, "-o", target, "--overwrite"), "is an input")
        assert a.read_bytes() == before


def test_energy_and_memory_files_are_inputs(tmp_path):
    energy, memory = tmp_path / "e.toml", tmp_path / "m.toml"
    energy.write_text("ac = 1.0\nmac = 2.0\n")
    memory.write_text('bits = 8\ndense_reuse = "ideal"\n')
    for option, path in (("--energy", energy), ("--memory", memory)):
        before = path.read_bytes()
        one_line_error(
            invoke(*profile_args(option, path, "-o", path, "--format", "json", "--overwrite")), "is an input"
        )
        assert path.read_bytes() == before


# -- a file syops did not write is kept unless --overwrite ------------------------------------------
SUFFIXES = (".json", ".csv", ".md", ".html", ".tex", ".txt")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_profile_keeps_a_foreign_file_and_refreshes_its_own(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    path.write_bytes(FOREIGN)
    one_line_error(invoke(*profile_args("-o", path)), "syops did not write it", "--overwrite")
    assert path.read_bytes() == FOREIGN
    assert invoke(*profile_args("-o", path, "--overwrite")).exit_code == 0
    first = path.read_bytes()
    assert first != FOREIGN
    result = invoke(*profile_args("-o", path))  # syops' own earlier output: one command refreshes it
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == first


def test_own_output_of_stdout_is_recognised(tmp_path):
    """A report redirected from stdout (JSON, Markdown) carries the same mark as one written by -o."""
    for fmt, suffix in (("json", ".json"), ("markdown", ".md"), ("latex", ".tex"), ("csv", ".csv")):
        path = tmp_path / f"piped{suffix}"
        path.write_text(invoke(*profile_args("--format", fmt)).stdout)
        assert invoke(*profile_args("-o", path)).exit_code == 0, fmt


@pytest.mark.parametrize(
    "command",
    [
        ("dynapcnn", "dynapcnn_nmnist", "-q", "-o", "{p}.json"),
        ("dynapcnn", "dynapcnn_nmnist", "-q", "-o", "{p}.txt"),
        ("energy-models", "-o", "{p}.json"),
        ("energy-models", "-o", "{p}.txt"),
        ("zoo", "--list", "-o", "{p}.txt"),
        ("compare", "{a}", "{a}", "-o", "{p}.md"),
        ("compare", "{a}", "{a}", "-o", "{p}.json"),
    ],
)
def test_every_command_keeps_a_foreign_file(tmp_path, command):
    a = tmp_path / "a.json"
    write_report(a)
    args = [c.format(p=tmp_path / "out", a=a) for c in command]
    path = tmp_path / ("out" + os.path.splitext(args[-1])[1])
    path.write_bytes(FOREIGN)
    one_line_error(invoke(*args), "syops did not write it")
    assert path.read_bytes() == FOREIGN
    assert invoke(*args, "--overwrite").exit_code == 0
    assert invoke(*args).exit_code == 0  # and then it is syops' own


def test_zoo_overwrite_replaces_a_foreign_file_whole(tmp_path):
    path = tmp_path / "zoo.md"
    path.write_bytes(FOREIGN)
    one_line_error(invoke("zoo", "--models", "snntorch_mlp", "-o", path, "-q"), "--overwrite")
    assert path.read_bytes() == FOREIGN
    assert invoke("zoo", "--models", "snntorch_mlp", "-o", path, "-q", "--overwrite").exit_code == 0
    assert "<!-- syops zoo: begin generated table -->" in path.read_text()


def test_plot_keeps_a_foreign_image_and_refreshes_its_own(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "energy.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not ours")
    one_line_error(invoke(*profile_args("--plot", path)), "--plot", "syops did not write it")
    assert path.read_bytes() == b"\x89PNG\r\n\x1a\n not ours"
    assert invoke(*profile_args("--plot", path, "--overwrite")).exit_code == 0
    assert invoke(*profile_args("--plot", path)).exit_code == 0
    for suffix in (".svg", ".pdf"):
        other = tmp_path / f"energy{suffix}"
        assert invoke(*profile_args("--plot", other)).exit_code == 0
        assert invoke(*profile_args("--plot", other)).exit_code == 0, suffix


# -- suffixes ----------------------------------------------------------------------------------------
def test_a_suffix_that_names_no_format_is_refused_before_any_work(tmp_path):
    line = one_line_error(invoke(*profile_args("-o", tmp_path / "out.xlsx")), ".xlsx")
    for accepted in (".json", ".csv", ".md", ".html", ".tex", ".txt"):
        assert accepted in line
    assert not (tmp_path / "out.xlsx").exists()
    one_line_error(invoke(*profile_args("--format", "json", "-o", tmp_path / "out.csv")), "--format json")
    one_line_error(invoke(*profile_args("--plot", tmp_path / "e.jpg")), ".jpg")
    one_line_error(invoke("energy-models", "-o", tmp_path / "e.csv"), ".csv")
    assert not list(tmp_path.iterdir())


def test_compare_writes_the_format_its_output_suffix_names(tmp_path):
    a = tmp_path / "a.json"
    write_report(a)
    assert invoke("compare", a, a, "-o", tmp_path / "d.json", "-q").exit_code == 0
    assert "totals" in json.loads((tmp_path / "d.json").read_text())  # was a text table
    one_line_error(invoke("compare", a, a, "-o", tmp_path / "d.csv"), ".csv")


# -- stdout, devices, atomicity ---------------------------------------------------------------------
def test_dash_is_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*profile_args("-o", "-", "--format", "json"))
    assert result.exit_code == 0 and json.loads(result.stdout)["syops_version"]
    assert not (tmp_path / "-").exists()
    assert invoke(*profile_args("-o", "./-", "--format", "json")).exit_code == 0  # a file named "-"
    assert json.loads((tmp_path / "-").read_text())["syops_version"]
    one_line_error(invoke(*profile_args("--plot", "-")), "--plot")


def test_a_device_is_written_in_place():
    assert invoke(*profile_args("-o", os.devnull, "--format", "json")).exit_code == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(SyopsError, match="No space left"):
        write_atomic(path, b"new" * 1000)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_bytes(b"old")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_atomic_write_keeps_links_and_permissions(tmp_path):
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    fresh = write_atomic(tmp_path / "deep" / "new.json", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


# -- user code that exits ----------------------------------------------------------------------------
def user_module(tmp_path, monkeypatch, source: str) -> str:
    name = f"user_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return name


MODEL = "from torch import nn\ndef build():\n    return nn.Linear(8, 4)\n"


@pytest.mark.parametrize(
    "source, code",
    [
        ("import sys\nsys.exit(7)\n", "7"),
        ("import sys\ndef build():\n    sys.exit(0)\n", "0"),
        ("import sys\ndef build():\n    raise SystemExit('bye')\n", "'bye'"),
        (
            "import argparse\nargparse.ArgumentParser().add_argument('--lr', required=True)\n"
            "p = argparse.ArgumentParser()\np.add_argument('--lr', required=True)\np.parse_args()\n",
            "2",
        ),
    ],
)
def test_a_model_factory_that_exits_is_one_error_line(tmp_path, monkeypatch, source, code):
    name = user_module(tmp_path, monkeypatch, source)
    result = invoke("profile", f"{name}:build", "--input-shape", "8")
    assert result.exit_code == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("syops: error:") and f"{name}.py:" in last and f"sys.exit({code})" in last, last


def test_an_argparse_script_does_not_read_syops_options(tmp_path, monkeypatch):
    source = (
        MODEL + "import argparse\np = argparse.ArgumentParser()\np.add_argument('--lr', default=1)\np.parse_args()\n"
    )
    name = user_module(tmp_path, monkeypatch, source)
    result = invoke("profile", f"{name}:build", "--input-shape", "8", "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["macs"] == 8 * 4 + 4  # weights and bias


def test_data_module_and_forward_that_exit(tmp_path, monkeypatch):
    name = user_module(
        tmp_path,
        monkeypatch,
        MODEL
        + "import sys, torch\ndef data():\n    sys.exit(5)\n"
        + "class Quitter(torch.nn.Linear):\n    def forward(self, x):\n        sys.exit(3)\n"
        + "def quitter():\n    return Quitter(8, 4)\n",
    )
    one_line_error(invoke("profile", f"{name}:build", "--data", f"{name}:data"), "sys.exit(5)", f"{name}:data")
    one_line_error(invoke("profile", f"{name}:quitter", "--input-shape", "8"), "sys.exit(3)", "running the model")
    assert sys.argv[0] != name  # put back


def test_ctrl_c_in_a_factory_still_aborts(tmp_path, monkeypatch):
    name = user_module(tmp_path, monkeypatch, "def build():\n    raise KeyboardInterrupt\n")
    result = invoke("profile", f"{name}:build", "--input-shape", "8")
    assert result.exit_code == 1 and "aborted" in result.stderr


# -- an iterable without a length --------------------------------------------------------------------
def lengthless():
    return (torch.randn(1, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))


def test_data_without_a_length_is_said_to_be_unbounded():
    result = invoke("profile", f"{HERE}:linear", "--data", f"{HERE}:lengthless", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "has no length" in result.stderr and "--max-batches" in result.stderr
    assert json.loads(result.stdout)["samples"] == 3
    bounded = invoke("profile", f"{HERE}:linear", "--data", f"{HERE}:lengthless", "--max-batches", "2")
    assert bounded.exit_code == 0 and "has no length" not in bounded.stderr


def test_an_unwritable_directory_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a directory should be
    one_line_error(invoke(*profile_args("-o", blocker / "sub" / "r.json")), "cannot write in")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        one_line_error(invoke(*profile_args("-o", locked / "r.json")), "cannot write in")
