"""Parsing of command-line values (shapes, KEY=VALUE pairs, lists) and the options several commands share."""

from __future__ import annotations

import ast
import contextvars
from collections.abc import Iterable
from typing import Any

import click

# Every command accepts --debug; the group's entry point looks for it in the arguments (so that even a
# usage error shows its traceback when asked) and sets DEBUG for the commands.
DEBUG: contextvars.ContextVar[bool] = contextvars.ContextVar("syops_cli_debug", default=False)
debug_option = click.option(
    "--debug", is_flag=True, expose_value=False, help="Show tracebacks instead of one-line errors."
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar, notes or warnings on stderr.")


def parse_shape(value: str | None, option: str = "--input-shape") -> tuple[int, ...] | None:
    """'3,224,224' (or 3x224x224) -> (3, 224, 224)."""
    if value is None:
        return None
    parts = [p.strip() for p in value.replace("x", ",").replace("×", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts if p)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a shape like 3,224,224", param_hint=option) from None
    if not shape or any(s <= 0 for s in shape):
        raise click.BadParameter(f"{value!r} is not a shape of positive sizes like 3,224,224", param_hint=option)
    if any(s >= 1 << 31 for s in shape):
        raise click.BadParameter(f"{value!r} has a size beyond 2**31 - 1", param_hint=option)
    return shape


def parse_value(text: str) -> Any:
    """A Python literal (10, 0.5, True, None, 'x', [1, 2]) or, failing that, the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_kwargs(pairs: Iterable[str], option: str = "--kwarg") -> dict[str, Any]:
    """('num_classes=10', 'cnf=IAND') -> {'num_classes': 10, 'cnf': 'IAND'}."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE with KEY a Python name", param_hint=option)
        result[key] = parse_value(value.strip())
    return result


def parse_list(value: str | None) -> list[str] | None:
    """'a,b' -> ['a', 'b']; None stays None."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_columns(value: str | None, columns: Iterable[tuple[str, ...]], option: str = "--columns") -> list[str] | None:
    """'layer,energy' -> ['layer', 'energy'], each a key of ``columns`` ((key, ...) tuples)."""
    if value is None:
        return None
    keys = [column[0] for column in columns]
    chosen = [part.strip().lower().replace("-", "_") for part in value.split(",") if part.strip()]
    unknown = [key for key in chosen if key not in keys]
    if unknown or not chosen:
        what = f"unknown column {', '.join(unknown)}" if unknown else "no column named"
        raise click.BadParameter(f"{what}; choose from {','.join(keys)}", param_hint=option)
    return list(dict.fromkeys(chosen))
