"""The domain services of one gateway process, wired together once.

``Services.build`` is the only place that knows which service needs which:
each gets its collaborators in its constructor, and the one cross-service
event (a freed seat reaching the waitlist) is subscribed there too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sms_gateway.services.booking import BookingService
from sms_gateway.services.core import Core, SeatEvents
from sms_gateway.services.jobs import Jobs
from sms_gateway.services.lottery import Lottery
from sms_gateway.services.lottery_draw import LotteryDraws
from sms_gateway.services.office import OfficeService
from sms_gateway.services.outbound import Outbound
from sms_gateway.services.waitlist import Waitlist


@dataclass(frozen=True)
class Services:
    """Every domain service, typed: what handlers, jobs and pages are given."""

    core: Core
    bookings: BookingService
    office: OfficeService
    outbound: Outbound
    waitlist: Waitlist
    lottery: Lottery
    draws: LotteryDraws
    jobs: Jobs

    @classmethod
    def build(cls, core: Core) -> Services:
        """Construct and connect the services on ``core``."""
        seats = SeatEvents()
        bookings = BookingService(core, seats)
        outbound = Outbound(core.sessions, core.clock, core.settings.outbound)
        waitlist = Waitlist(bookings, outbound, seats)  # subscribes to freed seats
        lottery = Lottery(core, bookings)
        draws = LotteryDraws(core, bookings, waitlist, outbound)
        office = OfficeService(core, bookings, outbound, seats)
        jobs = Jobs(core, bookings, waitlist, outbound, lottery, draws)
        return cls(core, bookings, office, outbound, waitlist, lottery, draws, jobs)
