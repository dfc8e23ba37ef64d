"""`payments keys` and `payments roles`: who may sign commands, and what they may issue.

Both act on the event store directly, as the operator (docs/security.md): run them
with the environment of `payments services env --principal admin`, or your own
PAYMENTS_DATABASE_URL of a role that may append events. Every change is an event
(`Principal.*`, `SigningKey.*`, `ApiKey.*`) whose actor is `--actor` (default: your
user name).
"""

from __future__ import annotations

import getpass
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from payments.runtime.settings import Settings


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


def _app(settings: Settings):  # type: ignore[no-untyped-def]
    from payments.ledger.store import open_application

    return open_application(settings, snapshots=False)


@click.group("keys")
def keys() -> None:
    """Signing keys of principals (Ed25519; only public keys are stored)."""


@keys.command("create")
@click.option("--principal", required=True, help="Who signs with it, e.g. checkout-service.")
@click.option(
    "--role", "roles", multiple=True, help="Role(s) for a new principal, or to add (repeat)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the private key here (0600) instead of printing it.",
)
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def create_key(principal: str, roles: tuple[str, ...], out: Path | None, actor: str | None) -> None:
    """Make a key pair, register its public key for PRINCIPAL, show the private key once.

    The principal is created with --role roles if it is new. The private key is not
    stored anywhere by the engine: keep it in your secrets manager.

    \b
    Example:
      payments keys create --principal checkout --role payments --out checkout.pem
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from payments.contract.signing import Signer
    from payments.ledger.identities import register_key

    settings = Settings()
    signer = Signer(Ed25519PrivateKey.generate(), principal)
    app = _app(settings)
    try:
        key_id = register_key(
            app,
            principal=principal,
            public_key=signer.public_key,
            actor=actor or _operator(),
            roles=set(roles),
        )
    finally:
        app.close()
    pem = signer.private_pem().decode("ascii")
    if out is not None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        click.echo(f"key {key_id} of {principal}: private key written to {out} (0600)")
    else:
        click.echo(f"key {key_id} of {principal}; its private key, shown once:")
        click.echo(pem, nl=False)
    click.echo(f"sign with: PAYMENTS_SIGNING_PRINCIPAL={principal} PAYMENTS_SIGNING_KEY_FILE=…")


@keys.command("list")
@click.option("--principal", default=None, help="Only this principal's keys.")
def list_keys(principal: str | None) -> None:
    """Every registered key: id, principal, active or revoked, the principal's roles."""
    from payments.ledger.identities import registered_keys

    settings = Settings()
    app = _app(settings)
    try:
        views = registered_keys(app, settings.require_database_url())
    finally:
        app.close()
    for view in views:
        if principal is None or view.principal == principal:
            state = "revoked" if view.revoked else "active"
            click.echo(f"{view.key_id}  {view.principal}  {state}  {' '.join(view.roles)}")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", required=True, help="Why, for the audit log.")
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def revoke(key_id: str, reason: str, actor: str | None) -> None:
    """Revoke KEY_ID for good: every later command signed with it is unauthenticated.

    \b
    Example:
      payments keys revoke ed25519:3f2a… --reason "laptop lost"
    """
    from payments.ledger.identities import revoke_key

    app = _app(Settings())
    try:
        changed = revoke_key(app, key_id=key_id, reason=reason, actor=actor or _operator())
    finally:
        app.close()
    click.echo(f"key {key_id} {'revoked' if changed else 'was already revoked'}")


_DURATION = re.compile(r"^([1-9][0-9]{0,4})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _duration(text: str) -> timedelta:
    found = _DURATION.fullmatch(text)
    if found is None:
        raise click.BadParameter(f"{text!r}: a number and d, h or m, e.g. 90d")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@keys.command("api-create")
@click.option("--principal", required=True, help="Whose requests the key makes (must exist).")
@click.option("--expires-in", default="90d", show_default=True, help="Lifetime: 90d, 12h, 30m.")
@click.option(
    "--scope", "scopes", multiple=True, help="Narrow to these scopes (repeat; default: all "
    "the principal's roles give)."
)  # fmt: skip
@click.option(
    "--account", "accounts", multiple=True, help="Restrict to these accounts (repeat; "
    "default: any). A restricted key reads and moves money out of only these."
)  # fmt: skip
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def api_create(
    principal: str,
    expires_in: str,
    scopes: tuple[str, ...],
    accounts: tuple[str, ...],
    actor: str | None,
) -> None:
    """Issue an HTTP API key for PRINCIPAL and show it once (only its hash is stored).

    Its scopes are those of the principal's roles at each request (docs/api.md).

    \b
    Examples:
      payments keys api-create --principal support@example --expires-in 30d
      payments keys api-create --principal app@example --account alice --account alice-eur
    """
    from payments.ledger.identities import issue_api_key

    expires_at = datetime.now(UTC) + _duration(expires_in)
    app = _app(Settings())
    try:
        issued = issue_api_key(
            app,
            principal=principal,
            expires_at=expires_at,
            actor=actor or _operator(),
            scopes=set(scopes),
            accounts=set(accounts),
        )
    finally:
        app.close()
    only = f", only for {' '.join(issued.accounts)}" if issued.accounts else ""
    click.echo(
        f"API key {issued.prefix} of {principal}{only}, expires"
        f" {expires_at:%Y-%m-%dT%H:%M:%SZ}; shown once:"
    )
    click.echo(issued.token)
    click.echo("send it as: Authorization: Bearer <key>")


@keys.command("api-revoke")
@click.argument("prefix")
@click.option("--reason", required=True, help="Why, for the audit log.")
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def api_revoke(prefix: str, reason: str, actor: str | None) -> None:
    """Revoke the API key PREFIX for good (the API refuses it once the projection has it).

    \b
    Example:
      payments keys api-revoke 3f2a9c0d1e7b --reason "left the team"
    """
    from payments.ledger.identities import revoke_api_key

    app = _app(Settings())
    try:
        changed = revoke_api_key(app, prefix=prefix, reason=reason, actor=actor or _operator())
    finally:
        app.close()
    click.echo(f"API key {prefix} {'revoked' if changed else 'was already revoked'}")


@click.group("roles")
def roles() -> None:
    """Roles of principals: which command types each may issue."""


@roles.command("table")
def role_table() -> None:
    """The role table: each role and the command types it allows."""
    from payments.domain.roles import ROLE_COMMANDS

    for role, types in ROLE_COMMANDS.items():
        click.echo(f"{role:<11} {', '.join(sorted(types)) or '(issues no command)'}")


@roles.command("list")
@click.argument("principal")
def list_roles(principal: str) -> None:
    """The roles PRINCIPAL holds now."""
    from payments.ledger.identities import IdentityError, principal_roles

    app = _app(Settings())
    try:
        held = principal_roles(app, principal)
    finally:
        app.close()
    if held is None:
        raise IdentityError(f"no principal {principal}")
    click.echo(" ".join(sorted(held)) or "(no roles)")


def _change(principal: str, grant: set[str], revoke: set[str], actor: str | None) -> None:
    from payments.ledger.identities import change_roles

    app = _app(Settings())
    try:
        held = change_roles(
            app, principal=principal, grant=grant, revoke=revoke, actor=actor or _operator()
        )
    finally:
        app.close()
    click.echo(f"{principal}: {' '.join(sorted(held)) or '(no roles)'}")


@roles.command("grant")
@click.argument("principal")
@click.argument("role_names", nargs=-1, required=True)
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def grant(principal: str, role_names: tuple[str, ...], actor: str | None) -> None:
    """Give PRINCIPAL the roles ROLE_NAMES (see `payments roles table`)."""
    _change(principal, set(role_names), set(), actor)


@roles.command("revoke")
@click.argument("principal")
@click.argument("role_names", nargs=-1, required=True)
@click.option("--actor", default=None, help="Who is doing this (default operator:$USER).")
def revoke_roles(principal: str, role_names: tuple[str, ...], actor: str | None) -> None:
    """Take the roles ROLE_NAMES from PRINCIPAL."""
    _change(principal, set(), set(role_names), actor)
