"""The ``s9reg`` command line: the only layer that prints, prompts, shows progress or exits.

Exit codes: 0 success; 1 invalid input (any :class:`~s9reg.errors.S9regError`); 2 usage error;
70 internal error (a bug: run with ``--debug`` for the traceback); 75 a conflict that running the
same command again later resolves (``PUBLISH_CONFLICT``: another publish holds the registry);
130 interrupted (Ctrl-C; also ``PUBLISH_INTERRUPTED``, which ``publish`` raises on SIGTERM too);
143 terminated (SIGTERM, where a command handles it as such: ``build``). :data:`_EXIT_BY_CODE`
maps error codes to statuses.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from s9reg import __version__
from s9reg.cli._app import App, console_err
from s9reg.cli._signals import EXIT_TERMINATED, Terminated
from s9reg.errors import S9regError

__all__ = ["EXIT_INTERRUPTED", "EXIT_RETRY", "cli", "exit_status", "main"]

EXIT_INTERNAL = 70
EXIT_RETRY = 75  # EX_TEMPFAIL
EXIT_INTERRUPTED = 130

# Errors whose exit status is not their class's ``exit_code`` (1), by their stable ``code``
# (the CLI does not import every subsystem to map its classes).
_EXIT_BY_CODE = {
    "PUBLISH_CONFLICT": EXIT_RETRY,
    "PUBLISH_INTERRUPTED": EXIT_INTERRUPTED,
}


def exit_status(e: S9regError) -> int:
    """The exit status of the CLI for ``e``."""
    return _EXIT_BY_CODE.get(e.code, e.exit_code)


def _version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    deps = []
    for name in ("pycryptodome", "blake3", "click"):
        try:
            deps.append(f"{name} {version(name)}")
        except PackageNotFoundError:  # pragma: no cover - broken install
            deps.append(f"{name} ?")
    return f"s9reg {__version__} ({', '.join(deps)})"


# Subcommands are imported when used: `s9reg build` need not load the server or S3 code.
_COMMANDS = {
    "build": "s9reg.cli.build:build",
    "cache": "s9reg.cli.cache:cache",
    "check-live": "s9reg.cli.check_live:check_live",
    "demo": "s9reg.cli.demo:demo",
    "init-registry": "s9reg.cli.init_registry:init_registry",
    "key": "s9reg.cli.key:key",
    "mirror": "s9reg.cli.mirror:mirror_cmd",
    "publish": "s9reg.cli.publish:publish",
    "pull": "s9reg.cli.pull:pull",
    "registry": "s9reg.cli.registry:registry",
    "s9pk": "s9reg.cli.s9pk:s9pk",
    "serve": "s9reg.cli.serve:serve",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click API
        return sorted(_COMMANDS)

    def get_command(
        self,
        ctx: click.Context,  # noqa: ARG002 - click API
        cmd_name: str,
    ) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)  # noqa: S101 - a table entry is wrong
        return command


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(message=_version_text(), version=__version__)
@click.option(
    "--debug", is_flag=True, envvar="S9REG_DEBUG", help="Show tracebacks (env S9REG_DEBUG)."
)
@click.option("-v", "--verbose", count=True, help="More detail in errors and logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """s9reg: a static StartOS package registry."""
    app = ctx.ensure_object(App)
    app.debug = debug
    app.verbose = verbose


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and map every outcome to an exit code (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    app = App()
    app.debug = "--debug" in args
    try:
        rv = cli.main(args=args, prog_name="s9reg", standalone_mode=False, obj=app)
    except click.exceptions.Abort as e:
        # click turns a KeyboardInterrupt (and so a SIGTERM, see _signals) into Abort.
        if isinstance(e.__cause__, Terminated):
            console_err("Terminated.")
            sys.exit(EXIT_TERMINATED)
        console_err("Aborted.")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except S9regError as e:
        if app.debug:
            raise
        console_err(f"ERROR {e.message}")
        if e.hint:
            console_err(f"hint: {e.hint}")
        if e.details and app.verbose:
            console_err(e.details)
        sys.exit(exit_status(e))
    except Terminated:
        console_err("Terminated.")
        sys.exit(EXIT_TERMINATED)
    except KeyboardInterrupt:
        console_err("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:
        if app.debug:
            raise
        console_err(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)")
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else 0)
