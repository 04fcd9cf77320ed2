"""``vsinr train RECIPE [options]``: the one training entry (``vsinr.training.entry``) on the command line."""

from __future__ import annotations

import click

from vsinr.app.cli.group import cli


@cli.command("train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                        "help_option_names": []})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def train_command(argv: tuple[str, ...]) -> None:
    """Train a learned method: vsinr train lists the recipes, vsinr train RECIPE --help their options."""
    from vsinr.training import entry

    entry.main(argv)
