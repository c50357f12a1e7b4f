"""The booking rules: one read of the facts, one pure decision, shared by every path.

Whoever asks for a seat or a place (DAFTAR, TUNGGU, a lottery entry, UBAH),
and whichever path answers (the full path in ``services/``, the crowd lane in
``crowd_lane.py``, the waitlist's promotions and the lottery's draw), the
same two steps decide:

1. ``read_facts`` runs ONE query (SQLAlchemy Core, the same on SQLite and
   PostgreSQL; the crowd lane runs the very same statement, compiled once, on
   the driver's connection) and returns everything any rule needs about the
   phone, the NIK and the office day, as a typed ``Facts`` value.
2. ``decide(ask, facts, calendar)`` is a pure function: no database, no
   clock. It returns a ``Refuse`` (with the domain error that explains it), a
   ``Repeat`` (the very same request was granted before: answer it again), or
   the allocation to make (``Seat``, ``Join``, ``Enter``).

The callers then make the change under the lock discipline of
``services/transitions.py`` (identity locks taken before the facts are read;
every write conditional on the state it expects). A seat counter that refuses
the claim (the session filled, or the day was closed, since the facts were
read) sends the caller back to step 1: the second decision sees why.

The rules, in the order they are applied (the first that objects answers).
Columns: S = DAFTAR (a seat), W = TUNGGU (the waitlist), E = a lottery entry,
M = UBAH (a move), P = a waitlist promotion or a lottery draw's winner.

  #  rule                                                   refusal              applies to
  1  the day can be booked: not past, within min/max days   DateNotBookable      S W E M;
     ahead, the office open (weekday, holiday, configured                        P: open only
     date, TUTUP)
  2  a lottery day's seats are not first come before its    LotteryNotOpen,      S W M; E: the
     draw                                                   -Pending, -Drawing   window is open
  3  the same request again is answered again, changing     (Repeat)             S W E
     nothing
  4  a booking moved is active, moved fewer than            CannotMove           M (checked
     max_reschedules times, to another day or session                            before rule 1)
  5  one request per phone: no booking held                 PhoneHasBooking      S W E
  6  no block in force on the phone or the NIK (BLOKIR)     Blocked              S W E M P
  7  fewer than max_no_shows no-shows or late cancellations Penalized            S W E M P
     of the phone, or of the NIK, in penalty_window_days
     (else banned for ban_days after the last)
  8  one request per NIK: no booking held from another      NikHasBooking        S W E
     phone
  9  one request per phone and NIK: no entry in a draw      AlreadyEntered       S W E
 10  one request per phone and NIK: no place in line        AlreadyWaiting       S W E
 11  at most niks_per_phone distinct NIKs booked, queued    TooManyNiks          S W E
     or entered from one phone in 30 days
 12  a seat is free in the session asked for (else the      SessionFull          S M P
     reply offers another session that day, or the next
     day with a seat)
 13  the waitlist is for full days (or a full session       NotWaitlistable      W
     asked for by name)

The differences between the columns are intended: UBAH keeps the booking it
moves (rules 5 and 8-11 do not apply to it), and a promotion or a draw gives
a seat to a request that passed every rule when it was made.

A holding booking whose day is over no longer counts (rules 3, 5, 8) and
counts as what the day-end sweep will make of it (a no-show, rule 7); the
caller closes it before writing (``stale_bookings``). The hourly message limit
is not a booking rule: it applies to every message, before any command
(``over_hourly_limit``); the facts carry the count for the lane.

Where each part lives: ``asks.py`` (what is asked), ``facts.py`` (what the
rules see), ``facts_query.py`` (the one query that reads it), ``decision.py``
(the pure decision and what it answers), ``limits.py`` (the hourly message
limit and rule 11's window).

How to add or change a rule: CONTRIBUTING.md, "How to add or change a booking rule".
"""

from __future__ import annotations

from sms_gateway.rules.asks import ONE_REQUEST, Ask, Want
from sms_gateway.rules.decision import (
    Decision,
    Enter,
    Join,
    Refuse,
    Repeat,
    Seat,
    day_end_status,
    decide,
    full_error,
    lottery_window,
    stale_bookings,
)
from sms_gateway.rules.facts import (
    BlockFact,
    EntryKind,
    Facts,
    HeldBooking,
    HeldEntry,
    SeatCounter,
    facts_from_rows,
)
from sms_gateway.rules.facts_query import FACTS, facts_params, facts_statement, read_facts
from sms_gateway.rules.limits import NIK_WINDOW_DAYS, inbound_count, over_hourly_limit

__all__ = [
    "FACTS",
    "NIK_WINDOW_DAYS",
    "ONE_REQUEST",
    "Ask",
    "BlockFact",
    "Decision",
    "Enter",
    "EntryKind",
    "Facts",
    "HeldBooking",
    "HeldEntry",
    "Join",
    "Refuse",
    "Repeat",
    "Seat",
    "SeatCounter",
    "Want",
    "day_end_status",
    "decide",
    "facts_from_rows",
    "facts_params",
    "facts_statement",
    "full_error",
    "inbound_count",
    "lottery_window",
    "over_hourly_limit",
    "read_facts",
    "stale_bookings",
]
