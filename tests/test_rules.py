"""The rules engine (sms_gateway/rules): one decision, in order, obeyed by every path.

``decide()`` is pure: these tests build the facts by hand and check each rule,
the order in which they apply, and what each request type is subject to. Then
the lane-bypass regression: a rule added to ``decide()`` alone is obeyed by the
crowd lane on PostgreSQL and by the full path's DAFTAR, TUNGGU, UBAH and
lottery entries, with nothing else touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from sms_gateway.config import Settings, load_settings
from sms_gateway.errors import (
    AlreadyEntered,
    AlreadyWaiting,
    Blocked,
    CannotMove,
    DateNotBookable,
    LotteryDrawing,
    LotteryNotOpen,
    LotteryPending,
    NikHasBooking,
    NotWaitlistable,
    Penalized,
    PhoneHasBooking,
    SessionFull,
    TooManyNiks,
)
from sms_gateway.gateway import Gateway
from sms_gateway.messages import InboundMessage
from sms_gateway.models import BlockKind, BookingStatus, EntryStatus, LotteryStatus, WaitStatus
from sms_gateway.rules import (
    Ask,
    BlockFact,
    EntryKind,
    Facts,
    HeldBooking,
    HeldEntry,
    Join,
    Refuse,
    Repeat,
    SeatCounter,
    Want,
    decide,
)
from sms_gateway.rules import decision as rules
from sms_gateway.schedule import OfficeCalendar
from tests.conftest import NOW, Clock, nik, phone, write_config

MONDAY = date(2026, 11, 30)  # PMK: PAGI 3 seats, SIANG 2
TUESDAY = MONDAY + timedelta(days=1)
ME, OTHER = "+6281200000001", "+6281200000002"
MY_NIK, OTHER_NIK = "h-mine", "h-other"


World = tuple[Settings, OfficeCalendar]


@pytest.fixture
def world(tmp_path: Path) -> World:
    settings = load_settings(write_config(tmp_path, "sqlite:///unused.db"), env={})
    return settings, OfficeCalendar(settings)


def ask(
    settings: Settings,
    want: Want = Want.SEAT,
    day: date = MONDAY,
    session: str | None = None,
    moving: HeldBooking | None = None,
    now: datetime = NOW,
) -> Ask:
    office = settings.offices[0]
    spec = office.session(session) if session else None
    return Ask(want, ME, MY_NIK, office, day, spec, now, moving=moving)


def held(
    *,
    id: int = 1,
    phone: str = ME,
    nik_hash: str = MY_NIK,
    day: date = MONDAY,
    session: str = "PAGI",
    status: BookingStatus = BookingStatus.ACTIVE,
    late_cancel: bool = False,
    reschedules: int = 0,
    created_at: datetime = NOW - timedelta(days=1),
) -> HeldBooking:
    return HeldBooking(
        id, phone, nik_hash, "PMK", day, session, id, f"CODE{id:02d}", status, late_cancel,
        reschedules, created_at,
    )  # fmt: skip


def entry(
    kind: EntryKind, *, phone: str = ME, nik_hash: str = MY_NIK, day: date = MONDAY
) -> HeldEntry:
    status = WaitStatus.WAITING if kind == EntryKind.WAITLIST else EntryStatus.ENTERED
    return HeldEntry(kind, 7, phone, nik_hash, "PMK", day, None, status.value, None, NOW)


def full(day: date = MONDAY) -> dict[tuple[date, str], SeatCounter]:
    return {(day, "PAGI"): SeatCounter(3, None, False), (day, "SIANG"): SeatCounter(2, None, False)}


def refusal(decision: rules.Decision) -> type:
    assert isinstance(decision, Refuse), decision
    return type(decision.error)


# -- each rule --------------------------------------------------------------------------------


def test_a_clean_applicant_gets_a_seat_in_the_first_session_with_one(world: World) -> None:
    settings, calendar = world
    decision = decide(ask(settings), Facts(), calendar)
    assert isinstance(decision, rules.Seat)
    assert [s.name for s in decision.sessions] == ["PAGI", "SIANG"]
    seats = {(MONDAY, "PAGI"): SeatCounter(3, None, False)}
    decision = decide(ask(settings), Facts(seats=seats), calendar)
    assert isinstance(decision, rules.Seat)
    assert [s.name for s in decision.sessions] == ["SIANG"]


@pytest.mark.parametrize(
    ("facts", "want", "expected"),
    [
        (Facts(closures={MONDAY: "banjir"}), Want.SEAT, DateNotBookable),
        (Facts(bookings=(held(id=2, day=TUESDAY),)), Want.SEAT, PhoneHasBooking),
        (Facts(blocks=(BlockFact(BlockKind.PHONE, TUESDAY, "calo"),)), Want.SEAT, Blocked),
        (
            Facts(
                bookings=tuple(
                    held(id=k, day=date(2026, 11, 2 + k), status=BookingStatus.NO_SHOW)
                    for k in (1, 2)
                )
            ),
            Want.SEAT,
            Penalized,
        ),
        (Facts(bookings=(held(phone=OTHER),)), Want.SEAT, NikHasBooking),
        (Facts(entries=(entry(EntryKind.LOTTERY, phone=OTHER),)), Want.SEAT, AlreadyEntered),
        (Facts(entries=(entry(EntryKind.WAITLIST, day=TUESDAY),)), Want.SEAT, AlreadyWaiting),
        (
            Facts(
                bookings=tuple(
                    held(id=k, nik_hash=f"h{k}", status=BookingStatus.CANCELLED) for k in (1, 2, 3)
                )
            ),
            Want.SEAT,
            TooManyNiks,
        ),
        (Facts(seats=full()), Want.SEAT, SessionFull),
        (Facts(), Want.WAIT, NotWaitlistable),
    ],
    ids=[
        "1 closed",
        "5 phone",
        "6 block",
        "7 penalty",
        "8 nik",
        "9 entered",
        "10 waiting",
        "11 niks",
        "12 full",
        "13 not full",
    ],
)
def test_each_rule_refuses_with_its_error(
    world: World, facts: Facts, want: Want, expected: type
) -> None:
    settings, calendar = world
    assert refusal(decide(ask(settings, want), facts, calendar)) is expected


def test_rules_apply_in_their_order(world: World) -> None:
    settings, calendar = world
    everything = Facts(
        bookings=(held(id=2, phone=OTHER), held(id=3, day=TUESDAY, nik_hash="h-old")),
        blocks=(BlockFact(BlockKind.NIK, TUESDAY, ""),),
        entries=(entry(EntryKind.WAITLIST, phone=OTHER),),
        seats=full(),
    )
    order = []
    facts = everything
    # Remove what each refusal names, and the next rule speaks.
    for strip in (
        lambda f: replace(f, bookings=f.bookings[:1]),  # phone's own booking (5)
        lambda f: replace(f, blocks=()),  # the block (6)
        lambda f: replace(f, bookings=()),  # the NIK's booking (8)
        lambda f: replace(f, entries=()),  # the place in line (10)
        lambda f: f,
    ):
        order.append(refusal(decide(ask(settings), facts, calendar)).__name__)
        facts = strip(facts)
    assert order == [
        "PhoneHasBooking",
        "Blocked",
        "NikHasBooking",
        "AlreadyWaiting",
        "SessionFull",
    ]


def test_the_same_request_again_is_a_repeat(world: World) -> None:
    settings, calendar = world
    mine = held()
    decision = decide(ask(settings), Facts(bookings=(mine,), seats=full()), calendar)
    assert decision == Repeat(booking=mine)
    waiting = entry(EntryKind.WAITLIST)
    decision = decide(ask(settings, Want.WAIT), Facts(entries=(waiting,), seats=full()), calendar)
    assert decision == Repeat(entry=waiting)


def test_a_booking_whose_day_is_over_holds_nothing_and_counts_as_a_no_show(world: World) -> None:
    settings, calendar = world
    yesterday = NOW.date() - timedelta(days=1)
    stale = held(id=2, day=yesterday)
    assert rules.stale_bookings(Facts(bookings=(stale,)), calendar, NOW) == [stale]
    assert isinstance(decide(ask(settings), Facts(bookings=(stale,)), calendar), rules.Seat)
    missed = held(id=3, day=yesterday - timedelta(days=3), status=BookingStatus.NO_SHOW)
    facts = Facts(bookings=(stale, missed))
    assert refusal(decide(ask(settings), facts, calendar)) is Penalized


def test_the_waitlist_is_for_full_days(world: World) -> None:
    settings, calendar = world
    assert decide(ask(settings, Want.WAIT), Facts(seats=full()), calendar) == Join()
    pagi_full = {(MONDAY, "PAGI"): SeatCounter(3, None, False)}
    facts = Facts(seats=pagi_full)
    assert decide(ask(settings, Want.WAIT, session="PAGI"), facts, calendar) == Join()
    assert refusal(decide(ask(settings, Want.WAIT, session="SIANG"), facts, calendar)) is (
        NotWaitlistable
    )


def test_a_closed_counter_has_no_free_seat(world: World) -> None:
    settings, calendar = world
    closed = {(MONDAY, s): SeatCounter(0, None, True) for s in ("PAGI", "SIANG")}
    assert refusal(decide(ask(settings), Facts(seats=closed), calendar)) is SessionFull


def test_ubah_keeps_its_booking_and_obeys_its_own_rules(world: World) -> None:
    settings, calendar = world
    mine = held()
    facts = Facts(bookings=(mine,))
    moving = ask(settings, Want.MOVE, day=TUESDAY, moving=mine)
    assert isinstance(decide(moving, facts, calendar), rules.Seat)  # rules 5, 8-11 skip it
    same = ask(settings, Want.MOVE, day=MONDAY, session="PAGI", moving=mine)
    assert refusal(decide(same, facts, calendar)) is CannotMove
    too_many = ask(settings, Want.MOVE, day=TUESDAY, moving=held(reschedules=2))
    assert refusal(decide(too_many, facts, calendar)) is CannotMove
    checked_in = ask(settings, Want.MOVE, day=TUESDAY, moving=held(status=BookingStatus.CHECKED_IN))
    assert refusal(decide(checked_in, facts, calendar)) is CannotMove
    blocked = replace(facts, blocks=(BlockFact(BlockKind.PHONE, TUESDAY, ""),))
    assert refusal(decide(moving, blocked, calendar)) is Blocked
    # Moving to the other session of the same day.
    other = decide(
        ask(settings, Want.MOVE, day=MONDAY, session="SIANG", moving=mine), facts, calendar
    )
    assert isinstance(other, rules.Seat)
    assert [s.name for s in other.sessions] == ["SIANG"]


def test_a_promotion_is_stopped_by_a_block_a_penalty_or_a_closure_only(world: World) -> None:
    settings, calendar = world
    today = NOW.date()
    # A day inside min_days_ahead and a waiting entry of its own: still a seat.
    promote = ask(settings, Want.PROMOTE, day=today)
    facts = Facts(entries=(entry(EntryKind.WAITLIST, day=today),))
    assert isinstance(decide(promote, facts, calendar), rules.Seat)
    assert refusal(decide(promote, replace(facts, closures={today: "x"}), calendar)) is (
        DateNotBookable
    )
    block = (BlockFact(BlockKind.NIK, today, ""),)
    assert refusal(decide(promote, replace(facts, blocks=block), calendar)) is Blocked


def test_lottery_days(tmp_path: Path) -> None:
    settings = load_settings(
        write_config(
            tmp_path,
            "sqlite:///unused.db",
            extra=(
                '[lottery]\nallocation = "lottery"\nopens_days_before = 2\ncloses_days_before = 1\n'
            ),
        ),
        env={},
    )
    calendar = OfficeCalendar(settings)
    opens, closes = rules.lottery_window(settings.offices[0], MONDAY)
    assert NOW < opens < closes
    assert refusal(decide(ask(settings, Want.ENTER), Facts(), calendar)) is LotteryNotOpen
    now = opens + timedelta(minutes=1)
    assert isinstance(decide(ask(settings, Want.ENTER, now=now), Facts(), calendar), rules.Enter)
    drawn = Facts(round_status=LotteryStatus.DRAWN)
    assert refusal(decide(ask(settings, Want.ENTER, now=now), drawn, calendar)) is LotteryDrawing
    assert refusal(decide(ask(settings, Want.SEAT, now=now), Facts(), calendar)) is LotteryPending
    after = closes + timedelta(minutes=1)
    still_open = Facts(round_status=LotteryStatus.OPEN)
    assert refusal(decide(ask(settings, now=after), still_open, calendar)) is LotteryDrawing
    assert isinstance(decide(ask(settings, now=after), drawn, calendar), rules.Seat)


# -- the lane-bypass regression: one rule, every path ----------------------------------------

DAY = "30-11-2026"
STRANGER = "9999"  # NIK serials ending so: refused by the rule added below


def _no_strangers(original: Callable[..., rules.Decision]) -> Callable[..., rules.Decision]:
    def with_new_rule(ask: Ask, facts: Facts, calendar: OfficeCalendar) -> rules.Decision:
        if ask.nik_hash == STRANGER_HASH[0]:
            return Refuse(Blocked("nik", date(2027, 1, 1), "aturan baru"))
        return original(ask, facts, calendar)

    return with_new_rule


STRANGER_HASH: list[str] = [""]


@pytest.fixture
def with_a_new_rule(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Add a rule in decide() only, as a contributor would, and nowhere else."""
    from sms_gateway.nik import parse_nik
    from tests.conftest import NIK_SECRET

    STRANGER_HASH[0] = parse_nik(nik(int(STRANGER))).keyed_hash(NIK_SECRET.encode())
    monkeypatch.setattr(rules, "_decide", _no_strangers(rules._decide))


def handle(gateway: Gateway, body: str, sender: str) -> str:
    return gateway.handle(InboundMessage(transport="test", sender=sender, text=body)).text


@pytest.mark.postgres  # the crowd lane runs on PostgreSQL only
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.usefixtures("with_a_new_rule")
def test_a_rule_added_to_decide_alone_is_obeyed_by_the_lane(gateway: Gateway) -> None:
    assert gateway.inbox.lane is not None
    body = f"DAFTAR {nik(int(STRANGER))} {DAY}"
    lane_reply = gateway.inbox.lane.answer(
        InboundMessage(transport="test", sender=phone(1), text=body, external_id="SMnew"), NOW
    )
    assert lane_reply is not None, "the lane declined: it must decide, not pass it on"
    assert "aturan baru" in lane_reply.text
    with gateway.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM bookings")).scalar_one() == 0


@pytest.mark.usefixtures("with_a_new_rule")
def test_a_rule_added_to_decide_alone_is_obeyed_on_every_path(
    gateway: Gateway, clock: Clock
) -> None:
    stranger = nik(int(STRANGER))
    # DAFTAR, through whatever path the gateway takes (the lane on PostgreSQL).
    assert "aturan baru" in handle(gateway, f"DAFTAR {stranger} {DAY}", phone(1))
    # TUNGGU for a full day.
    for k in range(2, 7):
        assert handle(gateway, f"DAFTAR {nik(k)} {DAY}", phone(k)).startswith("Terdaftar!")
    assert "aturan baru" in handle(gateway, f"TUNGGU {stranger} {DAY}", phone(1))
    # UBAH of a booking the stranger NIK holds (made before the rule existed).
    with gateway.engine.begin() as conn:
        conn.execute(
            text("UPDATE bookings SET nik_hash = :h WHERE phone = :p"),
            {"h": STRANGER_HASH[0], "p": phone(2)},
        )
    assert "aturan baru" in handle(gateway, "UBAH 1-12-2026", phone(2))
    with gateway.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM bookings WHERE nik_hash = :h AND reschedules > 0"),
                {"h": STRANGER_HASH[0]},
            ).scalar_one()
            == 0
        )
        assert conn.execute(text("SELECT count(*) FROM waitlist")).scalar_one() == 0


@pytest.mark.usefixtures("with_a_new_rule")
def test_a_rule_added_to_decide_alone_is_obeyed_by_lottery_entries(
    tmp_path: Path, db_url: str, clock: Clock
) -> None:
    config = write_config(tmp_path, db_url, extra='[lottery]\nallocation = "lottery"\n')
    lottery = Gateway(load_settings(config, env={}), clock=clock)
    try:
        assert "aturan baru" in handle(lottery, f"DAFTAR {nik(int(STRANGER))} {DAY}", phone(1))
        assert handle(lottery, f"DAFTAR {nik(1)} {DAY}", phone(2)).startswith("Anda ikut undian")
        with lottery.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM lottery_entries")).scalar_one() == 1
    finally:
        lottery.close()
