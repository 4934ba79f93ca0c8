"""Reading the TOML files that describe energy and memory models: one clear error line per failure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import SyopsError
from .safe_read import TOML_LIMIT, read_regular


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The contents of the TOML file ``path`` (``what`` names it in errors: "energy model file")."""
    data = read_regular(path, limit=TOML_LIMIT, what=what)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SyopsError(f"{what} {path} is not UTF-8 text (TOML files are UTF-8)") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # (ValueError: an integer of more than 4300 digits)
        raise SyopsError(f"{what} {path} is not valid TOML: {exc}") from None
