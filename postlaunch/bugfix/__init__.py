"""`bug-fix-manage`: BUG-### issues and semver bug-fix releases (the seed's `npm run bug-fix:manage`).

Commands plug in by module, as in `post-launch-monitor` (postlaunch.cli): every module of this
package is imported when the group is built and each click command it defines is added. Issues
live in `issues.py` (list, issue create|update|show), releases in `releases.py` (create, deploy,
promote, abort, rollback, status, restore).
"""

from __future__ import annotations

import pkgutil
import sys

import click

from postlaunch.cli import app_logs_to_stderr, load_errors, register


@click.group(name="bug-fix-manage", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--stack",
    envvar="PLM_STACK",
    default=None,
    metavar="NAME",
    help="CloudFormation stack whose resources to use when ISSUES_TABLE etc. are not set "
    "(env PLM_STACK; default post-launch-monitor-local).",
)
@click.pass_context
def cli(ctx: click.Context, stack: str | None) -> None:
    """Bug-fix issues and staged, health-gated releases.

    Reaches the AWS the API uses: the local stack when AWS_ENDPOINT_URL points at it (`make run`
    prints the exports), or a real account.
    """
    ctx.ensure_object(dict)
    ctx.obj["stack"] = stack


def capability_modules() -> list[str]:
    return sorted(
        f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
    )


register(cli, capability_modules())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`bug-fix-manage`)."""
    app_logs_to_stderr()
    for name, reason in load_errors.items():
        if name.startswith(__name__):
            print(f"bug-fix-manage: commands of {name} are unavailable ({reason})", file=sys.stderr)
    cli.main(args=argv, prog_name="bug-fix-manage")
