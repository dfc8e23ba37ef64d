"""`payments screen`: the screening provider's side (payments.tools.screen)."""

from __future__ import annotations

from pathlib import Path

import click

from payments.cli.outcomes import echo_outcomes
from payments.runtime.settings import Settings


@click.group("screen")
def screen() -> None:
    """KYC/AML screenings: answer the pending ones with the local screener."""


@screen.command("pending")
@click.option(
    "--subjects",
    "subjects_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON object: subject_ref -> {"name": ..., "date_of_birth": "YYYY-MM-DD"}.',
)
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for outcomes.")
def pending_command(subjects_file: Path, timeout: float) -> None:
    """Answer every pending screening with the local screener, signed, and print the
    outcomes (one JSON line each).

    The command id of an answer is screening:<screening id>, so running it again
    applies nothing twice (a re-sent answer comes back "replayed": true). The signing
    key's principal needs the `screening` role. A screening whose subject_ref the file
    does not know stays pending and is named on stderr. Exits 1 if an answer was
    rejected or got no outcome in time.

    \b
    Example:
      eval "$(payments services env)" && payments screen pending --subjects kyc.json
    """
    from payments.tools.screen import answer_pending, load_subjects

    try:
        subjects = load_subjects(subjects_file)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--subjects") from None
    run = answer_pending(Settings(), subjects, timeout=timeout)
    for screening_id, ref in run.unknown_subjects:
        click.echo(f"{screening_id}: no subject {ref} in {subjects_file}; left pending", err=True)
    echo_outcomes(run.result)
