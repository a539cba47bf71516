"""The CLI shell without network: dev tokens, usage errors, command registration, bug-fix-manage."""

from __future__ import annotations

import types

import click
import pytest
from click.testing import CliRunner

import postlaunch.cli as cli_pkg
from chalicelib.auth import TokenVerifier, principal_from_claims
from chalicelib.config import Settings, reset_settings
from postlaunch.bugfix import cli as bugfix_cli
from postlaunch.cli import cli, commands_in, register


@pytest.fixture(autouse=True)
def local_auth(monkeypatch):
    monkeypatch.setenv("AUTH_MODE", "hs256")
    monkeypatch.delenv("DEV_TOKEN_SECRET", raising=False)
    reset_settings()
    yield
    reset_settings()


def test_dev_token_is_accepted_by_the_local_verifier():
    result = CliRunner().invoke(cli, ["dev-token", "--role", "staff", "--workspace", "ws-1", "--sub", "u-7"])

    assert result.exit_code == 0, result.output
    token = result.output.strip()
    settings = Settings.from_env({"AUTH_MODE": "hs256"})
    claims = TokenVerifier(settings).verify(token)
    principal = principal_from_claims(claims, settings)
    assert (principal.sub, principal.workspace_id, principal.primary_role) == ("u-7", "ws-1", "staff")


def test_dev_token_ttl_is_applied():
    result = CliRunner().invoke(cli, ["dev-token", "--role", "engineer", "--ttl", "120"])

    claims = TokenVerifier(Settings.from_env({})).verify(result.output.strip())
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize(
    "args, option",
    [
        (["dev-token", "--role", "superuser", "--workspace", "w"], "--role"),
        (["dev-token", "--role", "engineer", "--ttl", "5"], "--ttl"),
        (["dev-token", "--role", "staff"], "--workspace"),
        (["dev-token", "--workspace", "w"], "--role"),
    ],
)
def test_bad_dev_token_options_are_usage_errors_naming_the_option(args, option):
    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 2
    assert option in result.output


def test_dev_token_is_refused_outside_the_local_auth_mode(monkeypatch):
    monkeypatch.setenv("AUTH_MODE", "jwks")
    monkeypatch.setenv("JWT_ISSUER", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X")
    monkeypatch.setenv(
        "JWKS_URL", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X/.well-known/jwks.json"
    )
    monkeypatch.setenv("JWT_AUDIENCE", "client")
    reset_settings()

    result = CliRunner().invoke(cli, ["dev-token", "--role", "engineer", "--workspace", "w"])

    assert result.exit_code == 1
    assert "AUTH_MODE=jwks" in result.output and "eyJ" not in result.output


def test_incomplete_auth_settings_are_a_one_line_error_not_a_traceback(monkeypatch):
    monkeypatch.setenv("AUTH_MODE", "jwks")
    reset_settings()

    result = CliRunner().invoke(cli, ["dev-token", "--role", "engineer", "--workspace", "w"])

    assert result.exit_code == 1
    assert "JWT_AUDIENCE" in result.output and "Traceback" not in result.output


def test_every_capability_module_loads():
    assert cli_pkg.load_errors == {}
    assert "dev-token" in cli.commands
    assert "feedback" in cli.commands


def test_only_commands_a_module_defines_are_registered():
    module = types.ModuleType("fake_capability")

    @click.command("thing")
    def thing() -> None:
        """A capability command."""

    thing.callback.__module__ = module.__name__
    module.thing = thing
    module.cli = cli  # imported, not defined here
    module.other = cli.commands["dev-token"]  # defined elsewhere

    assert commands_in(module) == [thing]


def test_a_module_that_fails_to_import_costs_only_its_commands(monkeypatch):
    group = click.Group("g")
    monkeypatch.setattr(cli_pkg, "load_errors", {})

    register(group, ["postlaunch.cli.does_not_exist"])

    assert group.commands == {}
    assert "postlaunch.cli.does_not_exist" in cli_pkg.load_errors


def test_main_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "dev-token" in result.output and "feedback" in result.output


def test_bug_fix_manage_is_its_own_group():
    result = CliRunner().invoke(bugfix_cli, ["--help"])
    assert result.exit_code == 0 and "bug-fix-manage" in result.output
    assert "releases" in " ".join(result.output.split())


def test_console_scripts_keep_stdout_for_the_answer():
    """Given the services' Powertools logger (stdout, INFO, as Lambda wants), when a console script
    starts, then app log lines go to stderr at WARNING and stdout holds only the command's answer."""
    import subprocess
    import sys

    code = (
        "from postlaunch.cli import app_logs_to_stderr\n"
        "from chalicelib.observability import logger\n"
        "app_logs_to_stderr()\n"
        "logger.info('routine detail')\n"
        "logger.warning('worth seeing')\n"
        "print('{\"answer\": 1}')\n"
    )
    env = {
        k: v for k, v in __import__("os").environ.items() if k not in ("LOG_LEVEL", "POWERTOOLS_LOG_LEVEL")
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"answer": 1}\n'
    assert "worth seeing" in done.stderr and "routine detail" not in done.stderr
