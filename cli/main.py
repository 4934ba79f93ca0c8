"""``syops``: profile a model from the command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from syops import SyopsError, profile, zoo


class _Group(click.Group):
    """Errors from syops end as one line on stderr (exit 2), unless --debug is given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SyopsError as exc:
            if ctx.meta.get("syops.debug"):
                raise
            click.echo(f"syops: error: {exc}", err=True)
            ctx.exit(2)


def _shape(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shape = tuple(int(part) for part in value.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a shape like 3,224,224") from None
    if not shape or any(s <= 0 for s in shape):
        raise click.BadParameter(f"{value!r} is not a shape of positive sizes like 3,224,224")
    return shape


def _build(model_name: str) -> tuple[Any, zoo.ZooEntry | None]:
    if ":" in model_name:
        module_name, _, attr = model_name.partition(":")
        import importlib

        try:
            factory: Callable = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise SyopsError(f"cannot load {model_name!r}: {exc}") from None
        return factory(), None
    entry = zoo.get(model_name)
    return entry.build(), entry


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Exact synaptic operations, ACs/MACs and energy of PyTorch models, spiking or not."""
    ctx.meta["syops.debug"] = debug


@main.command("profile")
@click.argument("model_name", metavar="MODEL")
@click.option("--input-shape", help="Shape of one sample, e.g. 3,224,224 (default: the zoo model's).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def profile_command(model_name: str, input_shape: str | None, fmt: str) -> None:
    """Profile MODEL (a zoo name or package.module:factory) and print per-layer costs."""
    model, entry = _build(model_name)
    shape = _shape(input_shape) or (entry.input_shape if entry else None)
    if shape is None:
        raise SyopsError("--input-shape is required for a model outside the zoo")
    report = profile(
        model,
        shape,
        timesteps=entry.timesteps if entry else None,
        time_layout=entry.time_layout if entry else None,  # type: ignore[arg-type]
    )
    report.model = model_name
    if fmt == "json":
        click.echo(report.to_json())
    else:
        Console(width=max(Console().width, 140)).print(report)


if __name__ == "__main__":
    sys.exit(main())
