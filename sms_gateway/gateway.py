"""The gateway core that every transport and the CLI share.

The composition root: ``Gateway(settings)`` opens the database (bringing it to
the current schema), resolves the NIK secret, builds the services
(``services/wiring.py``), the route list (``handlers/routes.py``) and the inbox.
Only the entry points (the Flask app, the CLI, the WSGI module) import it;
transports call ``gateway.handle(message)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from handlers.routes import default_router
from sms_gateway import migrate
from sms_gateway.application.inbox import Inbox
from sms_gateway.application.router import Router
from sms_gateway.config import ConfigError, Settings
from sms_gateway.crowd_lane import CrowdLane, create_lane_engine
from sms_gateway.dates import MONTHS, RELATIVE_DAYS, WEEKDAYS
from sms_gateway.db import create_db_engine, create_session_factory
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.nik_secret import check_fingerprint, resolve_nik_secret
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services.chain import AuditChain
from sms_gateway.services.core import Clock, Core
from sms_gateway.services.wiring import Services


def system_clock() -> datetime:
    """Return the current instant, aware, in UTC."""
    return datetime.now(UTC)


class Gateway:
    """Everything needed to answer SMS, built once per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        engine: Engine | None = None,
        migrate_schema: bool = True,
        crowd_lane: bool = True,
    ) -> None:
        self.settings = settings
        self.router = default_router()
        check_vocabulary(settings, self.router)
        self.engine = engine or create_db_engine(settings.database.url)
        try:
            if migrate_schema:
                migrate.upgrade(self.engine)
            self.sessions = create_session_factory(self.engine)
            self.nik_secret = resolve_nik_secret(settings)
            self._check_secret()
        except Exception:
            self.engine.dispose()
            raise
        self.clock = clock
        # Every booking change and staff command also goes into the audit chain, in
        # the transaction that makes it (see services/chain.py).
        self.chain = AuditChain(self.nik_secret, clock)
        self.chain.install(self.sessions)
        self._adopt_existing_rows()
        self.calendar = OfficeCalendar(settings)
        core = Core(settings, self.calendar, self.nik_secret, clock, self.sessions)
        self.services = Services.build(core)
        self.bookings = self.services.bookings
        self.outbound = self.services.outbound
        self.waitlist = self.services.waitlist
        self.lottery = self.services.lottery
        self.office_service = self.services.office
        self.jobs = self.services.jobs
        # On PostgreSQL a clean applicant's DAFTAR (nearly every message of a flash
        # crowd) is answered in two or three round trips (crowd_lane.py).
        self.lane_engine: Engine | None = None
        lane = None
        if crowd_lane and self.engine.dialect.name == "postgresql":
            self.lane_engine = create_lane_engine(self.engine.url)
            lane = CrowdLane(self.lane_engine, core, self.router, self.chain)
        self.inbox = Inbox(self.services, self.router, lane)

    def _check_secret(self) -> None:
        for attempt in range(2):
            try:
                with self.sessions.begin() as session:
                    check_fingerprint(session, self.nik_secret)
                return
            except IntegrityError:  # another process recorded it at the same moment
                if attempt:
                    raise

    def _adopt_existing_rows(self) -> None:
        # A database upgraded from a version without the chain starts it from its
        # current rows. Two processes starting at once queue on the head's lock.
        try:
            with self.sessions.begin() as session:
                self.chain.adopt(session)
        except Exception:
            self.engine.dispose()
            raise

    def handle(self, message: InboundMessage) -> Reply:
        """Answer one inbound SMS (see ``application/inbox.py``)."""
        return self.inbox.handle(message)

    def healthy(self) -> bool:
        """Return True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()
        if self.lane_engine is not None:
            self.lane_engine.dispose()


def check_vocabulary(settings: Settings, router: Router) -> None:
    """Refuse office codes or session names that could be read as another word.

    DAFTAR's arguments are told apart by their words, so an office called ``DES``
    (also "December") or a session called ``BESOK`` would make messages ambiguous.
    """
    taken = {w.upper() for w in (*MONTHS, *WEEKDAYS, *RELATIVE_DAYS)} | set(router.words)
    sessions = {s.name for o in settings.offices for s in o.sessions}
    where = settings.source or "built-in defaults"
    for office in settings.offices:
        if office.code in taken or office.code in sessions:
            raise ConfigError(
                f"{where}: office code {office.code} can be mistaken for a "
                "date, a command or a session name; choose another code"
            )
    for name in sessions:
        if name in taken:
            raise ConfigError(
                f"{where}: session name {name} can be mistaken for a date or a "
                "command; choose another name"
            )
