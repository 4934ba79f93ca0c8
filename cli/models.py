"""What MODEL names on the command line: a zoo model, ``package.module:factory``, or a checkpoint file
(with ``--arch`` for a state_dict)."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from syops import SyopsError, zoo
from syops import nir as nir_support
from syops.checkpoint import load_model

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar", ".pkl", ".pickle", ".safetensors")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# TypeError of a call given a keyword its callee lacks: "IFNode.__init__() got an unexpected keyword ..."
_UNEXPECTED = re.compile(r"^(?P<callee>[\w.<>]+)\(\) got an unexpected keyword argument '(?P<name>\w+)'")
_LISTED = 12  # arguments named in a refusal at most


@dataclass
class LoadedModel:
    """A model ready to profile, with what the command line knows about its input."""

    model: nn.Module
    label: str
    entry: zoo.ZooEntry | None = None  # the zoo entry (also of --arch) that gives input defaults
    options: dict[str, Any] = field(default_factory=dict)  # the entry's resolved build options
    layout: str | None = None  # the time layout the model needs (a NIR graph's "TB")
    input_shape: tuple[int, ...] | None = None  # one sample's shape, where the model declares it


def is_factory(spec: str) -> bool:
    return bool(_FACTORY.match(spec))


def is_checkpoint(spec: str) -> bool:
    return Path(spec).exists() or spec.endswith(CHECKPOINT_SUFFIXES) or os.sep in spec or "/" in spec


@contextlib.contextmanager
def user_code(doing: str, program: str = "") -> Iterator[None]:
    """Run the user's code (an import, a factory, a forward pass): its ``sys.exit`` becomes one error
    line naming where it was called, not syops' exit status. While it runs, ``sys.argv`` holds only
    ``program`` (the module's name), so a script that parses its arguments at import reads no syops option
    as its own, and its usage message names it, not syops.
    KeyboardInterrupt passes through (Ctrl-C aborts as anywhere else)."""
    argv = sys.argv
    sys.argv = [program or (argv[0] if argv else "syops")]
    try:
        yield
    except SystemExit as exc:
        raise SyopsError(f"{_exit_site(exc)} called sys.exit({exc.code!r}) while {doing}; syops stopped") from None
    finally:
        sys.argv = argv


def _exit_site(exc: SystemExit) -> str:
    """file:line of the last frame outside Python's own library (argparse's exit is the script's call)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith((stdlib, "<"))]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "user code"


def import_attribute(spec: str, what: str) -> Any:
    """The object named by ``package.module:attribute`` (modules in the working directory included)."""
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: local modules are importable
    try:
        with user_code(f"importing {module_name} for {what} {spec}", module_name):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SyopsError(f"cannot import {module_name!r} for {what} {spec!r}: {exc}") from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = [n for n in dir(value) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SyopsError(f"{module_name} has no attribute {attribute!r} for {what} {spec!r}{hint}")
        value = getattr(value, part)
    return value


def call_factory(spec: str, kwargs: Mapping[str, Any], what: str = "model") -> Any:
    """Call the factory ``spec`` names with ``kwargs`` (an object that is not callable is returned)."""
    target = import_attribute(spec, what)
    if isinstance(target, nn.Module) or not callable(target):
        if kwargs:
            raise SyopsError(f"{spec} is not a function, so --kwarg cannot be passed to it")
        return target
    try:
        with user_code(f"calling {spec} for {what}", spec.partition(":")[0]):
            return target(**kwargs)
    except SyopsError:
        raise
    except Exception as exc:
        refused = kwarg_refused(exc, target, kwargs, spec)
        if refused is not None:
            raise refused from None
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise SyopsError(f"{spec}({args}) failed: {type(exc).__name__}: {_first_line(exc)}") from exc


def _factory_model(spec: str, kwargs: Mapping[str, Any], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = call_factory(spec, kwargs)
    if not isinstance(model, nn.Module):
        raise SyopsError(f"{spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _split_options(entry: zoo.ZooEntry | None, kwargs: Mapping[str, Any], options: Mapping[str, Any]):
    """--kwarg pairs that are zoo options (cnf=IAND) join the options; the rest go to the builder."""
    options = dict(options)
    rest = {}
    for key, value in kwargs.items():
        if entry is not None and key in entry.options:
            options[key] = value
        else:
            rest[key] = value
    if options and entry is None:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in options)
        raise SyopsError(f"{names} applies to zoo models only (spikingjelly's for --neuron and --step-mode)")
    return options, rest


def _zoo_model(name: str, kwargs, options, timesteps: int | None, seed: int) -> tuple[nn.Module, zoo.ZooEntry, dict]:
    entry = zoo.get(name)
    options, rest = _split_options(entry, kwargs, options)
    resolved = entry.resolve_options(options)
    try:
        model = entry.make(resolved, timesteps=timesteps, seed=seed, kwargs=rest)
    except SyopsError as exc:  # the zoo's "cannot build": its TypeError is the context
        refused = kwarg_refused(exc.__context__, entry.build, rest, f"the zoo model {name}", entry.options)
        if refused is not None:
            raise refused from None
        raise
    return model, entry, resolved


def kwarg_refused(
    exc: BaseException | None, target: Any, kwargs: Mapping[str, Any], label: str, extra: Iterable[str] = ()
) -> SyopsError | None:
    """One line for a --kwarg the factory (or something it passed it on to) does not take: the kwarg, the
    factory, and the arguments it does take or the close ones, instead of the innermost callee's
    TypeError (spikingjelly's models hand unknown keywords to IFNode.__init__). None for any other error."""
    match = _UNEXPECTED.match(str(exc)) if isinstance(exc, TypeError) else None
    if match is None or match.group("name") not in kwargs:
        return None
    name = match.group("name")
    accepted = _accepted_arguments(target, exc.__traceback__, match.group("callee"), extra)
    if name in accepted:  # taken, then refused deeper: the factory's own bug, told as it was
        return None
    close = difflib.get_close_matches(name, accepted, n=3)
    if close:
        hint = f"; did you mean {', '.join(close)}?"
    elif accepted:
        more = ", ..." if len(accepted) > _LISTED else ""
        hint = f" (its arguments: {', '.join(accepted[:_LISTED])}{more})"
    else:
        hint = " (it takes no arguments)"
    return SyopsError(f"--kwarg {name}={kwargs[name]!r}: {label} takes no argument {name!r}{hint}")


def _accepted_arguments(target: Any, tb: Any, callee: str, extra: Iterable[str]) -> list[str]:
    """The keyword names the call chain accepts: the factory's, each function it passed the keywords
    through (the frames of the traceback), and the callee that refused one."""
    callables = [target]
    frame = tb.tb_frame if tb is not None else None
    tb = tb.tb_next if tb is not None else None  # the first frame is the one that called the factory
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        callables.append(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
        tb = tb.tb_next
    if frame is not None:
        callables.append(_named_callable(frame, callee))
    names: dict[str, None] = dict.fromkeys(extra)
    for item in callables:
        for name in item if isinstance(item, tuple) else _parameters(item):
            if name not in ("self", "cls") and not name.startswith("_"):
                names.setdefault(name)
    return list(names)


def _parameters(function: Any) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in signature.parameters.values() if p.kind in keyword]


def _named_callable(frame: Any, qualname: str) -> Any:
    """The callable ``qualname`` ('IFNode.__init__', 'build') as the failing frame sees it, or None."""
    owner, _, attribute = qualname.rpartition(".")
    for value in (*frame.f_locals.values(), *frame.f_globals.values()):
        if getattr(value, "__qualname__", None) == (owner or attribute):
            return getattr(value, attribute, None) if owner else value
    return None


def load(
    spec: str,
    *,
    arch: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    trust_checkpoint: bool = False,
    timesteps: int | None = None,
    seed: int = 0,
    dt: float | None = None,
) -> LoadedModel:
    """The model MODEL names (random init from ``seed``), with its zoo entry where it has one."""
    kwargs = dict(kwargs or {})
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if nir_support.is_nir_model(spec):  # before any checkpoint loader: a .nir file is HDF5, never unpickled
        if arch is not None or kwargs or options or trust_checkpoint:
            raise SyopsError("--arch, --kwarg, --neuron, --step-mode and --trust-checkpoint do not apply to a NIR file")
        graph = nir_support.to_torch(spec, dt=dt)
        return LoadedModel(graph, Path(spec).name, layout="TB", input_shape=graph.input_shape)
    if dt is not None:
        raise SyopsError("--dt applies to a NIR graph (a .nir file) only")
    if is_checkpoint(spec) and not is_factory(spec):
        entry = None
        resolved: dict[str, Any] = {}
        build = None
        if arch is not None:
            if is_factory(arch):
                _split_options(None, {}, options)

                def build() -> nn.Module:
                    return _factory_model(arch, kwargs, seed)
            else:
                entry = zoo.get(arch)
                resolved = entry.resolve_options(_split_options(entry, kwargs, options)[0])

                def build() -> nn.Module:
                    return _zoo_model(arch, kwargs, options, timesteps, seed)[0]
        elif kwargs or options:
            raise SyopsError("--kwarg, --neuron and --step-mode apply to the architecture; give it with --arch")
        with user_code(f"loading {spec}", Path(spec).name):  # full pickle (--trust-checkpoint) runs the file's code
            model = load_model(spec, build, trust=trust_checkpoint)
        return LoadedModel(model.eval(), Path(spec).name, entry, resolved)
    if arch is not None:
        raise SyopsError("--arch applies to a checkpoint file; MODEL here is a zoo name or module:factory")
    if trust_checkpoint:
        raise SyopsError("--trust-checkpoint applies to a checkpoint file only")
    if is_factory(spec):
        _split_options(None, {}, options)
        return LoadedModel(_factory_model(spec, kwargs, seed), spec)
    model, entry, resolved = _zoo_model(spec, kwargs, options, timesteps, seed)
    defaults = entry.resolve_options(None)
    changed = [f"{k}={v}" for k, v in resolved.items() if v != defaults[k]]
    label = f"{spec} ({', '.join(changed)})" if changed else spec
    return LoadedModel(model, label, entry, resolved)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
