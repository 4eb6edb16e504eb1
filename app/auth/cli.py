"""``readingroom user …``: accounts and API tokens from the command line.

The first moderator or admin of an installation is made here; so are tokens for scripts that
run where nobody can open the site.
"""

from __future__ import annotations

import sys

import click

from app import migrate
from app.auth.accounts import create_user, get_user_by_email
from app.auth.models import Role
from app.auth.tokens import create_token
from app.config import get_settings
from app.db import session_scope
from app.errors import ReadingroomError
from app.services.audit import record

ROLES = [role.value for role in Role]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def user() -> None:
    """Create accounts, change their role, make API tokens."""


@user.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default=Role.VOLUNTEER.value, show_default=True)
@click.option("--trusted", is_flag=True, help="May publish their own productions.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(email: str, role: str, trusted: bool, password_stdin: bool) -> None:
    """Create an account (the password is asked for, or read from stdin)."""
    settings = get_settings()
    migrate.upgrade(settings)
    password = _password(password_stdin)
    try:
        with session_scope(settings) as session:
            account = create_user(session, email, password, role=Role(role), trusted=trusted)
            record(session, None, "user.create", "user", account.id, email=account.email, role=role)
            click.echo(f"created {account.email} ({account.role.value})")
    except ReadingroomError as exc:
        raise click.ClickException(exc.message) from exc


@user.command("set")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default=None)
@click.option("--trusted/--untrusted", default=None, help="May publish their own productions.")
@click.option("--disable/--enable", "disabled", default=None, help="Refuse its logins and tokens.")
def set_account(email: str, role: str | None, trusted: bool | None, disabled: bool | None) -> None:
    """Change an account's role, trust or whether it is disabled."""
    settings = get_settings()
    migrate.upgrade(settings)
    try:
        with session_scope(settings) as session:
            account = get_user_by_email(session, email)
            changes: dict[str, object] = {}
            if role is not None:
                account.role = Role(role)
                changes["role"] = role
            if trusted is not None:
                account.trusted = trusted
                changes["trusted"] = trusted
            if disabled is not None:
                account.disabled = disabled
                changes["disabled"] = disabled
            record(session, None, "user.update", "user", account.id, **changes)
            click.echo(
                f"{account.email}: {account.role.value}"
                f"{', trusted' if account.trusted else ''}"
                f"{', disabled' if account.disabled else ''}"
            )
    except ReadingroomError as exc:
        raise click.ClickException(exc.message) from exc


@user.command("token")
@click.argument("email")
@click.argument("name")
def token(email: str, name: str) -> None:
    """Make an API token for EMAIL and print it (only this once: it is stored hashed)."""
    settings = get_settings()
    migrate.upgrade(settings)
    try:
        with session_scope(settings) as session:
            account = get_user_by_email(session, email)
            new = create_token(session, account, name)
            record(session, None, "token.create", "api_token", new.token.id, name=new.token.name)
    except ReadingroomError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(new.secret)
