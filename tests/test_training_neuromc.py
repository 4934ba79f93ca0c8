"""docs/training.md's comparison with spikingjelly's NeuroMC estimator, recomputed: the page must still show
the numbers tests/training_compare.py measures."""

from pathlib import Path

import pytest

pytest.importorskip("spikingjelly.activation_based.op_counter.neuromc")

import training_compare

PAGE = (Path(__file__).parent.parent / "docs" / "training.md").read_text()


def _n(value: float) -> str:
    return f"{value:,.0f}"


@pytest.fixture(scope="module")
def measured():
    return training_compare.neuromc_comparison()


def test_docs_show_neuromc_error_on_the_flop_counter_step():
    assert f"`ValueError: {training_compare.neuromc_error()}`" in PAGE


def test_docs_neuromc_layer_table_is_measured(measured):
    for name, type_name, phase, acs, macs, theirs, add, mul, other in measured["layers"]:
        cells = [f"`{name}`", type_name, phase, *map(_n, (acs, macs, theirs, add, mul, other))]
        assert "| " + " | ".join(cells) + " |" in PAGE


def test_docs_neuromc_update_table_is_measured(measured):
    for name, (acs, macs, add, mul, sqrt) in measured["updates"].items():
        assert "| " + " | ".join([name, *map(_n, (acs, macs, add, mul, sqrt))]) + " |" in PAGE


def test_neuromc_counts_the_linear_backward_twice(measured):
    # the two extra aten.mm fragments are the Linear's input and weight gradients again
    linear_backward = next(row for row in measured["layers"] if row[1] == "Linear" and row[2] == "backward")
    extra = sum(macs for _, _, macs in measured["trace_macs"])
    assert extra == linear_backward[5] == 5760
    assert f"{_n(extra)} MACs more" in PAGE
    share = measured["energy_by_op_pj"]["aten.mm.default"] / measured["energy_pj"]["backward"]
    assert f"{share:.0%} of its backward energy" in PAGE
    module, trace = training_compare.neuromc_dense_double_count()
    assert module == trace == 300
    assert f"{module} MACs from its module fragments and {trace} more" in PAGE


def test_docs_neuromc_energy_per_stage_is_measured(measured):
    for stage, pj in measured["energy_pj"].items():
        assert f"{stage} {_n(pj)} pJ" in PAGE
