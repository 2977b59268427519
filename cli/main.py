"""``rqvae``: one click group over the quantizer and analysis commands.

Exit codes: 0 success; 1 a ``--fail-on`` verdict was met; 2 bad input or a run that cannot be
used (one line ``error: <file>: <problem>`` on stderr, no traceback).
"""

from __future__ import annotations

import sys

import click

from cli import (
    analysis_commands,
    dashboard_command,
    extend_command,
    quantizer_commands,
    study_command,
)
from rqvae.errors import WorkbenchError, printable

# One error line: its quoted parts are cut to 200 characters each where they are made; this
# bounds the whole line and escapes any control character a message let through.
ERROR_LINE_LIMIT = 1000


class WorkbenchGroup(click.Group):
    """Click group that turns the workbench's own errors into one line and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WorkbenchError as error:
            click.echo(f"error: {printable(str(error), ERROR_LINE_LIMIT)}", err=True)
            sys.exit(2)


@click.group(cls=WorkbenchGroup)
@click.version_option(package_name="rqvae-workbench")
def main() -> None:
    """Train RQ-VAE semantic IDs from item catalogs and diagnose them."""


for module in (
    quantizer_commands,
    extend_command,
    analysis_commands,
    study_command,
    dashboard_command,
):
    for command in module.COMMANDS:
        main.add_command(command)


def module_entry() -> None:
    """``python -m rqvae`` and ``torchrun ... -m rqvae -- <command>`` (see ``rqvae/__main__.py``).

    torchrun's own parser claims any option that abbreviates one of its own (``--run`` would be
    ``--run-path``), so under torchrun the command goes after ``--``. Some Python versions pass
    that ``--`` on to the script; it is dropped here.
    """
    if len(sys.argv) > 1 and sys.argv[1] == "--":
        del sys.argv[1]
    main()


if __name__ == "__main__":
    module_entry()
