"""The energy of a trained spiking network, against the same architecture at random initialisation.

Trains the small spiking CNN of ``syops/models/digits.py`` (spikingjelly, LIF neurons, T = 4) on
scikit-learn's bundled 8×8 digits for a few seconds (seeded, deterministic on CPU), saves its state_dict,
and profiles it over the 359 held-out digits, exactly as the command line does with

    syops profile digits_scnn.pt --arch digits_scnn --data syops.models.digits:held_out_digits

Then it prints how the firing rates, the synaptic operations and the energy of the trained network
differ from those of the untrained one (the same architecture and data, random weights). Offline.

    python examples/trained_energy.py --epochs 5 --out runs/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import syops
from syops.models.digits import (
    EPOCHS,
    TIMESTEPS,
    accuracy,
    digits_scnn,
    digits_split,
    held_out_digits,
    train_digits_scnn,
)

CLI = "syops profile {ckpt} --arch digits_scnn --data syops.models.digits:held_out_digits"


def profile_held_out(net: torch.nn.Module) -> syops.Report:
    """What the command above computes: the held-out digits, each repeated over T steps ([T, B, ...])."""
    return syops.profile(
        net, dataloader=held_out_digits(), timesteps=TIMESTEPS, time_layout="TB", input_encoding="direct"
    )


def comparison(trained: syops.Report, untrained: syops.Report) -> list[str]:
    """Lines comparing two reports of the same architecture: each neuron layer's firing rate, then the
    per-sample totals and energy."""
    head = f"per sample (T = {trained.timesteps})"
    lines = [f"{head:<32}{'random init':>14}{'trained':>14}{'change':>12}"]

    def row(label: str, before: float, after: float, fmt: str = "{:,.0f}", rate: bool = False) -> None:
        if rate:  # firing rates change by percentage points; a ratio to a near-silent layer says little
            change = f"{after - before:+.2f} pp"
        else:
            change = f"{after / before:.2f}×" if before >= 1e-3 * max(after, 1e-30) else "-"
        lines.append(f"{label:<32}{fmt.format(before):>14}{fmt.format(after):>14}{change:>12}")

    for layer in trained.layers:
        if layer.output_spike_rate is None:
            continue
        before = untrained.layer(layer.name, layer.type).output_spike_rate or 0.0
        row(f"firing rate {layer.name} ({layer.type})", 100 * before, 100 * layer.output_spike_rate, "{:.2f}%", True)
    mean_before, mean_after = 100 * (untrained.mean_spike_rate or 0), 100 * (trained.mean_spike_rate or 0)
    row("mean firing rate", mean_before, mean_after, "{:.2f}%", True)
    a, b = untrained.totals, trained.totals
    for key, label in (("synops", "synops"), ("acs", "ACs"), ("macs", "MACs")):
        row(label, a[key], b[key])
    memory = trained.memory_model.name if trained.memory_model is not None else "no memory model"
    for key, label in (
        ("compute_energy_mj", f"compute (nJ, {trained.energy_model.name})"),
        ("memory_energy_mj", f"memory (nJ, {memory})"),
        ("energy_mj", "energy (nJ)"),
    ):
        row(label, 1e6 * a[key], 1e6 * b[key], "{:,.2f}")
    row(
        "energy / the ANN, run once", a["energy_mj"] / a["ann_energy_mj"], b["energy_mj"] / b["ann_energy_mj"], "{:.3f}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the checkpoint")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    net = train_digits_scnn(args.epochs, log=print)
    _, _, x_test, y_test = digits_split()
    ckpt = args.out / "digits_scnn.pt"
    torch.save(net.state_dict(), ckpt)
    print(f"saved {ckpt} (held-out accuracy {accuracy(net, x_test, y_test):.3f})")
    print(f"profiling it as: {CLI.format(ckpt=ckpt)}")

    restored = digits_scnn()
    restored.load_state_dict(torch.load(ckpt, weights_only=True))
    trained = profile_held_out(restored.eval())
    untrained = profile_held_out(digits_scnn(seed=0).eval())
    print("\n".join(comparison(trained, untrained)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
