"""The ``vsinr`` command: one module per group of commands, all registered on ``group.cli``."""

from __future__ import annotations

import os
import sys

import click

from vsinr.app.cli import codec, run, tools, train  # noqa: F401  (each registers its commands on the group)
from vsinr.app.cli.group import cli

__all__ = ["cli", "main"]


def main() -> None:
    """The ``vsinr`` command: one line on stderr for any error, the traceback only with ``--debug``."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("VSINR_DEBUG") == "1"
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("vsinr: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a file-size limit, a folder that is not writable
        if debug:
            raise
        click.echo(f"vsinr: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"vsinr: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)
