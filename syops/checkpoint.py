"""Loading checkpoints without running code from them.

A checkpoint is read with ``torch.load(weights_only=True)``, which only rebuilds tensors and plain
containers: a file that would construct anything else (a pickled module, or a crafted pickle that opens
files or runs commands) is refused before any of it runs. A pickled whole module loads only with
``trust=True`` (``--trust-checkpoint``). TorchScript archives are refused outright: syops counts with
hooks on Python modules, which cannot see inside a scripted graph.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import SyopsError

# Where training scripts commonly nest the weights (Lightning, timm, torchvision references...).
STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict", "module", "net", "weights")


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip holding compiled code and constants beside the pickled data."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def read_checkpoint(path: str | Path, *, trust: bool = False) -> Any:
    """The object stored in ``path``: loaded with ``weights_only=True`` unless ``trust``."""
    path = Path(path)
    if not path.exists():
        raise SyopsError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise SyopsError(f"checkpoint {path} is not a file")
    try:
        scripted = is_torchscript(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SyopsError(f"cannot read checkpoint {path}: {exc}") from None
    if scripted:
        raise SyopsError(
            f"{path} is a TorchScript archive; syops cannot see inside scripted graphs. Save the Python "
            "model's state_dict and profile it with --arch NAME|module:factory"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes about pickle protocols and archive formats
        try:
            return torch.load(path, map_location="cpu", weights_only=not trust)
        except pickle.UnpicklingError as exc:
            if trust:
                raise SyopsError(f"cannot read checkpoint {path}: {_first_line(exc)}") from None
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            if found:
                raise SyopsError(
                    f"{path} holds pickled Python objects beyond tensors ({found.group(1)}), and loading them would "
                    "run code from the file; pass --trust-checkpoint only if you trust it, or save a state_dict"
                ) from None
            raise SyopsError(
                f"cannot read checkpoint {path} with the weights-only loader ({_weights_only_reason(exc)}); "
                "if you trust the file, --trust-checkpoint reads it with full pickle (which runs code from it)"
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError, KeyError, AttributeError, ImportError) as exc:
            raise SyopsError(
                f"cannot read checkpoint {path}: not a PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)})"
            ) from None


def find_state_dict(obj: Any) -> dict[str, Tensor] | None:
    """The state dict in a loaded checkpoint: the object itself, or nested under a usual key
    ("state_dict", "model", ...), at most two levels down. A "module." prefix (DataParallel) is dropped."""
    if _is_state_dict(obj):
        return _strip_prefix(dict(obj))
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if key in obj:
                found = find_state_dict(obj[key])
                if found is not None:
                    return found
    return None


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, Tensor) for v in obj.values())
    )


def _strip_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    if all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def find_module(obj: Any) -> nn.Module | None:
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, Mapping):
        for key in ("model", "module", "net"):
            if isinstance(obj.get(key), nn.Module):
                return obj[key]
    return None


def load_state_dict_into(model: nn.Module, state: Mapping[str, Tensor], source: str) -> nn.Module:
    """``model.load_state_dict(state)`` (strict), with a one-line error naming what does not match."""
    own = model.state_dict()
    state = dict(state)
    parameters = {name for name, _ in model.named_parameters()}
    for key, value in own.items():
        # Neuron state saved mid-run (sinabs' v_mem, shaped by the last batch) is not a weight: a fresh
        # model holds it empty, and syops resets it before every batch anyway.
        if key in state and key not in parameters and value.numel() == 0 and state[key].shape != value.shape:
            state[key] = value
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} of another shape (e.g. {k}: {list(state[k].shape)} vs {list(own[k].shape)})")
    if problems:
        raise SyopsError(f"the weights in {source} do not match the architecture: keys " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    return model


def load_model(path: str | Path, build: Callable[[], nn.Module] | None = None, *, trust: bool = False) -> nn.Module:
    """The model in checkpoint ``path``: a state dict loaded into ``build()`` (the architecture), or,
    with ``trust``, a pickled whole module."""
    obj = read_checkpoint(path, trust=trust)
    module = find_module(obj)
    if module is not None:
        if build is not None:
            raise SyopsError(f"{path} holds a whole module; drop --arch (the module brings its own architecture)")
        return module
    state = find_state_dict(obj)
    if state is None:
        kind = type(obj).__name__
        keys = f" with keys {', '.join(map(str, list(obj)[:5]))}" if isinstance(obj, Mapping) else ""
        raise SyopsError(f"{path} holds no state_dict (found a {kind}{keys}); expected tensors by parameter name")
    if build is None:
        raise SyopsError(f"{path} holds a state_dict; give its architecture with --arch NAME|module:factory")
    return load_state_dict_into(build(), state, str(path))


def _weights_only_reason(exc: BaseException) -> str:
    """The weights-only unpickler's own complaint, without torch's advice around it."""
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    return found.group(1).strip() if found else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
