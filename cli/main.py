"""``syops``: profile a model from the command line.

Exit status: 0 ok, 1 a finding (the model does not fit DYNAP-CNN, the zoo table is stale), 2 a usage or
input error. Every error is one line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from syops import SyopsError, __version__

from .compare_command import compare_command
from .dynapcnn_command import dynapcnn_command
from .energy_command import energy_models_command
from .output import note
from .params import DEBUG
from .profile_command import profile_command
from .train_command import train_step_command
from .zoo_command import zoo_command

USAGE_ERROR = 2


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _traceback_and_exit(code: int) -> None:
    """--debug: the traceback of the error being handled, and the exit status it has without --debug."""
    traceback.print_exc()
    sys.exit(code)


class SyopsGroup(click.Group):
    """Errors end as one line on stderr (exit 2) unless --debug is among the arguments."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        debug = "--debug" in argv
        token = DEBUG.set(debug)
        try:
            result = super().main(argv, prog_name or "syops", complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            if debug:
                _traceback_and_exit(exc.exit_code)
            where = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "syops"
            hint = f" (see '{where} --help')" if isinstance(exc, click.UsageError) else ""
            click.echo(f"{where}: error: {_one_line(exc.format_message())}{hint}", err=True)
            sys.exit(USAGE_ERROR)
        except click.Abort:
            click.echo("syops: aborted", err=True)
            sys.exit(1)
        except SyopsError as exc:
            if debug:
                _traceback_and_exit(USAGE_ERROR)
            note(_one_line(str(exc)), kind="error")
            sys.exit(USAGE_ERROR)
        except Exception as exc:
            if debug:
                _traceback_and_exit(USAGE_ERROR)
            message = _one_line(str(exc)) or "(no message)"
            note(f"{type(exc).__name__}: {message} (run with --debug for the traceback)", kind="error")
            sys.exit(USAGE_ERROR)
        finally:
            DEBUG.reset(token)
        sys.exit(result if isinstance(result, int) else 0)


@click.group("syops", cls=SyopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syops")
@click.option("--debug", is_flag=True, expose_value=False, help="Show tracebacks instead of one-line errors.")
def main() -> None:
    """Exact synaptic operations, ACs/MACs and energy of PyTorch models, spiking or not."""


main.add_command(profile_command)
main.add_command(dynapcnn_command)
main.add_command(zoo_command)
main.add_command(energy_models_command)
main.add_command(compare_command)
main.add_command(train_step_command)


if __name__ == "__main__":
    main()
