"""``sms-gateway staff``: register staff phones, their offices, roles and PINs."""

from __future__ import annotations

import click

from sms_gateway.cli.options import PHONE, check_office, unit_of_work, with_settings
from sms_gateway.config import Settings
from sms_gateway.models import Staff, StaffRole
from sms_gateway.phones import national_format

# Shared by the commands that set a PIN.
pin_option = click.option("--pin", help="4-8 digits; asked for (hidden) when left out.")


def _ask_pin(pin: str | None) -> str:
    if pin is not None:
        return pin
    return str(click.prompt("PIN (4-8 digits)", hide_input=True, confirmation_prompt=True))


@click.group()
def staff() -> None:
    """Register staff phones, their offices, roles and PINs."""


@staff.command("add")
@click.option("--phone", type=PHONE, required=True, help="The staff member's own phone.")
@click.option("--office", required=True, help="Office code, e.g. PMK.")
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
@click.option("--name", required=True)
@pin_option
@with_settings
def staff_add(
    settings: Settings, phone: str, office: str, role: str, name: str, pin: str | None
) -> None:
    """Register a staff phone."""
    from sms_gateway.services import staff as staff_service

    check_office(settings, office)
    with unit_of_work(settings) as (gateway, session):
        added = staff_service.add_staff(
            session,
            phone=phone,
            office=office.upper(),
            role=StaffRole(role),
            name=name,
            pin=_ask_pin(pin),
            now=gateway.clock(),
        )
        click.echo(
            f"added {added.name} ({added.role.value}, {added.office_code}) "
            f"on {national_format(added.phone)}"
        )


@staff.command("list")
@with_settings
def staff_list(settings: Settings) -> None:
    """List staff phones."""
    from sqlalchemy import select

    with unit_of_work(settings) as (gateway, session):
        members = list(session.scalars(select(Staff).order_by(Staff.office_code, Staff.name)))
        if not members:
            click.echo("no staff registered (add one with: sms-gateway staff add ...)")
            return
        now = gateway.clock()
        for m in members:
            locked = " LOCKED" if m.locked_until and m.locked_until > now else ""
            click.echo(
                f"{m.office_code:6} {m.role.value:8} {national_format(m.phone):16} {m.name}{locked}"
            )


@staff.command("remove")
@click.option("--phone", type=PHONE, required=True)
@with_settings
def staff_remove(settings: Settings, phone: str) -> None:
    """Remove a staff phone (its audit entries stay)."""
    from sms_gateway.services import staff as staff_service

    with unit_of_work(settings) as (_, session):
        removed = staff_service.remove_staff(session, phone)
        click.echo(f"removed {removed.name} ({national_format(removed.phone)})")


@staff.command("reset-pin")
@click.option("--phone", type=PHONE, required=True)
@pin_option
@with_settings
def staff_reset_pin(settings: Settings, phone: str, pin: str | None) -> None:
    """Set a new PIN and lift a lockout."""
    from sms_gateway.services import staff as staff_service

    with unit_of_work(settings) as (_, session):
        member = staff_service.reset_pin(session, phone, _ask_pin(pin))
        click.echo(f"new PIN set for {member.name}; lockout lifted")
