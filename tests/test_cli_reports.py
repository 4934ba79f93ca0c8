"""``syops profile --format html|latex`` (also chosen by the --output suffix), ``--latex-blocks`` and
``--methods``: the command line writes what the Report methods return for the same profile."""

from __future__ import annotations

from click.testing import CliRunner
from report_fixtures import spiking_cnn

from syops import profile
from syops.cli.main import main as cli

MODEL = ["report_fixtures:spiking_cnn", "--input-shape", "2,8,8", "-T", "4", "--time-layout", "TB"]
MODEL += ["--encoding", "poisson"]


def invoke(*args: str):
    return CliRunner().invoke(cli, ["profile", *MODEL, *args])


def _library_report(**kwargs):
    report = profile(spiking_cnn(), (2, 8, 8), timesteps=4, time_layout="TB", input_encoding="poisson", **kwargs)
    report.model = "report_fixtures:spiking_cnn"
    return report


def test_html_and_latex_by_format_and_suffix(tmp_path):
    expected = _library_report()
    page = tmp_path / "r.html"
    result = invoke("-o", str(page))
    assert result.exit_code == 0 and result.stderr.strip() == f"syops: note: wrote {page}"
    assert page.read_text() == expected.to_html()
    table = invoke("--format", "latex")
    assert table.exit_code == 0 and table.stdout == expected.to_latex()
    blocks = tmp_path / "t.tex"
    assert invoke("-o", str(blocks), "--latex-blocks", "1", "-q").exit_code == 0
    assert blocks.read_text() == expected.to_latex(granularity="block", block_depth=1)


def test_methods_paragraph(tmp_path):
    expected = _library_report()
    alone = invoke("--methods")
    assert alone.exit_code == 0 and alone.stdout == expected.methods() + "\n"
    report_file = tmp_path / "r.json"
    both = invoke("--methods", "-o", str(report_file))
    assert both.exit_code == 0 and both.stdout == expected.methods() + "\n"
    assert report_file.read_text() == expected.to_json()


def test_random_batch_is_described_as_random():
    result = invoke("--methods", "--batch-size", "3")
    assert result.exit_code == 0
    # (the CLI builds this batch as a one-batch DataLoader of [T, B, ...]: one sample's shape drops T too)
    assert "The input was 3 seeded random samples of shape 2×8×8" in result.stdout
    assert "drawn from a uniform [0, 1) distribution (seed 0)" in result.stdout
