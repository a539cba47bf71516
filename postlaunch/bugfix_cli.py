"""`bug-fix-manage`: BUG-### issues and semver bug-fix releases (the seed's `npm run bug-fix:manage`).

Its commands (list, create, deploy, rollback, status) arrive with the bug-fix releases issue; until
then the group exists so the console script is installed and says what is coming.
"""

from __future__ import annotations

import click

PLANNED = "list, create, deploy, rollback, status"


@click.group(
    name="bug-fix-manage",
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Bug-fix issues and staged releases.

    The commands (list, create, deploy, rollback, status) arrive with the bug-fix releases issue;
    none is available yet.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        click.echo(f"\nNo commands yet: {PLANNED} arrive with the bug-fix releases issue.", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`bug-fix-manage`)."""
    cli.main(args=argv, prog_name="bug-fix-manage")
