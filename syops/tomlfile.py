"""Reading the TOML files that describe energy and memory models: one clear error line per failure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import SyopsError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The contents of the TOML file ``path`` (``what`` names it in errors: "energy model file")."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SyopsError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError:
        raise SyopsError(f"{what} {path} is not UTF-8 text (TOML files are UTF-8)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SyopsError(f"{what} {path} is not valid TOML: {exc}") from None
