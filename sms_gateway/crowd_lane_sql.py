"""The crowd lane's SQL (see crowd_lane.py): psycopg's own statements, PostgreSQL only.

They run on the driver's connection with ``%(name)s`` parameters: on a path of
two or three statements, SQLAlchemy's per-statement work (result metadata, type
processing) was about a quarter of the lane's CPU time. Each statement mirrors
what the full path does through the ORM; ``tests/test_crowd_lane.py`` holds the
rows each writes to the full path's.
"""

from __future__ import annotations

from sms_gateway.models import (
    HOLDING,
    BlockKind,
    BookingStatus,
    Direction,
    EntryStatus,
    WaitStatus,
)

# FACTS binds the "holding" statuses one by one: they must be exactly the model's.
if {BookingStatus.ACTIVE, BookingStatus.CHECKED_IN, BookingStatus.CALLED} != set(HOLDING):
    raise RuntimeError("crowd_lane_sql.FACTS must list every status in models.HOLDING")


# Everything the rules could object to, and the seat counters, in one round trip.
# Each EXISTS mirrors one check of BookingService.book (see crowd_lane.py);
# they only need to say "something is there": the full path then says what.
#
# Statuses and the direction are bound, not inlined. psycopg prepares a statement
# it runs often, and PostgreSQL then keeps one generic plan per connection, made
# from the statistics of that moment. With ``direction = 'in'`` inlined, a plan
# made while the table was nearly empty counted an applicant's messages by reading
# the whole partial index one_message_per_provider_id (its predicate matched), a
# full scan that grew with every message: 6.6 ms a call after 20,000 messages.
FACTS = """
    SELECT
      (SELECT count(*) FROM messages
        WHERE phone = %(phone)s AND created_at > %(hour_ago)s
          AND direction = %(inbound)s) AS recent,
      EXISTS (SELECT 1 FROM bookings
        WHERE (phone = %(phone)s OR nik_hash = %(nik_hash)s)
          AND (status IN (%(active)s, %(checked_in)s, %(called)s)
               OR ((status = %(no_show)s OR late_cancel) AND booking_date >= %(missed_since)s)
               OR created_at >= %(niks_since)s)) AS known,
      EXISTS (SELECT 1 FROM blocks
        WHERE ((kind = %(phone_kind)s AND value = %(phone)s)
               OR (kind = %(nik_kind)s AND value = %(nik_hash)s))
          AND lifted_at IS NULL AND until >= %(today)s) AS blocked,
      EXISTS (SELECT 1 FROM waitlist
        WHERE status = %(waiting)s AND (phone = %(phone)s OR nik_hash = %(nik_hash)s)) AS waiting,
      EXISTS (SELECT 1 FROM lottery_entries
        WHERE status = %(entered)s AND (phone = %(phone)s OR nik_hash = %(nik_hash)s)) AS entered,
      EXISTS (SELECT 1 FROM office_closures
        WHERE office_code = %(office)s AND day >= %(today)s AND day <= %(horizon)s) AS closed,
      -- Two EXISTS, one per index: an OR across phone and NIK here read the table.
      EXISTS (SELECT 1 FROM bookings
        WHERE phone = %(phone)s
          AND (status IN (%(active)s, %(checked_in)s, %(called)s)
               OR ((status = %(no_show)s OR late_cancel) AND booking_date >= %(missed_since)s)
               OR created_at >= %(niks_since)s))
      OR EXISTS (SELECT 1 FROM bookings
        WHERE nik_hash = %(nik_hash)s
          AND (status = %(no_show)s OR late_cancel)
          AND booking_date >= %(missed_since)s) AS phone_known,
      theirs.office_code, theirs.booking_date,
      slot.slot_date, slot.session_name, slot.booked, slot.quota_override
    FROM (SELECT 1 AS one) AS facts
    -- The booking the NIK holds (one at most: one_active_booking_per_nik).
    LEFT JOIN LATERAL (SELECT office_code, booking_date FROM bookings
        WHERE nik_hash = %(nik_hash)s AND status IN (%(active)s, %(checked_in)s, %(called)s)
        LIMIT 1) AS theirs ON true
    LEFT JOIN session_slots AS slot
      ON slot.office_code = %(office)s
         AND slot.slot_date >= %(day)s AND slot.slot_date <= %(horizon)s
"""
FACTS_CONSTANTS = {
    "inbound": Direction.IN.value,
    "active": BookingStatus.ACTIVE.value,
    "checked_in": BookingStatus.CHECKED_IN.value,
    "called": BookingStatus.CALLED.value,
    "no_show": BookingStatus.NO_SHOW.value,
    "phone_kind": BlockKind.PHONE.value,
    "nik_kind": BlockKind.NIK.value,
    "waiting": WaitStatus.WAITING.value,
    "entered": EntryStatus.ENTERED.value,
}


def _write(*, with_attempt: bool) -> str:
    """Return the statement that logs a lane answer: inbound row, attempt (DAFTAR), reply.

    The inbound row claims the provider id: a retry conflicts and writes nothing.
    One atomic statement. The ON CONFLICT target names the partial unique index
    one_message_per_provider_id, predicate spelled out as PostgreSQL needs to see it.
    """
    attempt = (
        """, attempt AS (
      INSERT INTO booking_attempts (at, phone, nik_hash, nik_masked, office_code, outcome)
      SELECT %(now)s, %(phone)s, %(nik_hash)s, %(nik_masked)s, %(office)s, %(outcome)s
      FROM inbound
    )"""
        if with_attempt
        else ""
    )
    return f"""
    WITH inbound AS (
      INSERT INTO messages
        (direction, transport, external_id, phone, gateway_number, body, created_at, attempts)
      VALUES ('{Direction.IN.value}', %(transport)s, %(external_id)s, %(phone)s,
              %(gateway_number)s, %(inbound_body)s, %(now)s, 0)
      ON CONFLICT (transport, external_id) WHERE direction = '{Direction.IN.value}' DO NOTHING
      RETURNING id
    ){attempt}, reply AS (
      INSERT INTO messages
        (direction, transport, phone, gateway_number, body, reply_to_id, created_at,
         status, attempts)
      SELECT '{Direction.OUT.value}', %(transport)s, %(phone)s, %(gateway_number)s,
             %(reply_body)s, inbound.id, %(now)s, %(status)s, 0
      FROM inbound
      RETURNING id
    )
    SELECT reply.id FROM reply
"""


WRITE_WITH_ATTEMPT = _write(with_attempt=True)  # DAFTAR: the fraud report reads attempts
WRITE = _write(with_attempt=False)

# CEK and BATAL: what they would look for (a booking, a place in line, a draw
# entry), the booking the phone holds if any, and the hourly message count.
PHONE_FACTS = """
    SELECT
      (SELECT count(*) FROM messages
        WHERE phone = %(phone)s AND created_at > %(hour_ago)s
          AND direction = %(inbound)s) AS recent,
      EXISTS (SELECT 1 FROM waitlist WHERE phone = %(phone)s AND status = %(waiting)s)
      OR EXISTS (SELECT 1 FROM lottery_entries
        WHERE phone = %(phone)s AND status = %(entered)s) AS waits,
      mine.office_code, mine.booking_date, mine.session_name, mine.queue_seq, mine.code
    FROM (SELECT 1 AS one) AS facts
    -- The booking the phone holds (one at most: one_active_booking_per_phone).
    LEFT JOIN LATERAL (SELECT office_code, booking_date, session_name, queue_seq, code
        FROM bookings
        WHERE phone = %(phone)s AND status IN (%(active)s, %(checked_in)s, %(called)s)
        LIMIT 1) AS mine ON true
"""

# The stored reply to an earlier delivery of the same provider message id.
EARLIER_REPLY = f"""
    SELECT reply.id, reply.body, reply.status
    FROM messages AS inbound
    LEFT JOIN messages AS reply ON reply.reply_to_id = inbound.id
    WHERE inbound.transport = %(transport)s AND inbound.external_id = %(external_id)s
      AND inbound.direction = '{Direction.IN.value}'
    ORDER BY reply.id
    LIMIT 1
"""


# -- booking a free seat ------------------------------------------------------------------
# One transaction of three round trips, each a psycopg pipeline (see crowd_lane.py).

# Claims the provider id, exactly as the full path does first thing: a retry of a
# message still being handled waits here for it, then conflicts and writes nothing.
CLAIM_INBOUND = f"""
    INSERT INTO messages
      (direction, transport, external_id, phone, gateway_number, body, created_at, attempts)
    VALUES ('{Direction.IN.value}', %(transport)s, %(external_id)s, %(phone)s,
            %(gateway_number)s, %(inbound_body)s, %(now)s, 0)
    ON CONFLICT (transport, external_id) WHERE direction = '{Direction.IN.value}' DO NOTHING
    RETURNING id
"""


def lock_identities(count: int) -> str:
    """Return the statement taking ``count`` advisory locks, bound as k0, k1, ... in order.

    PostgreSQL evaluates a select list left to right: the keys are taken in the
    order given, which is services.booking.identity_lock_keys's, as on the full path.
    """
    return "SELECT " + ", ".join(f"pg_advisory_xact_lock(%(k{i})s)" for i in range(count))


# Takes the seat and numbers it, as BookingService.claim and _next_queue_seq do, then
# records the booking and the attempt: each step feeds the next, so a full session
# (no row from ``claim``) writes nothing at all. The unique indexes still decide:
# a phone, NIK, code or number taken meanwhile fails the statement.
TAKE_SEAT = f"""
    WITH claim AS (
      INSERT INTO session_slots AS slot (office_code, slot_date, session_name, booked)
      VALUES (%(office)s, %(day)s, %(session)s, 1)
      ON CONFLICT (office_code, slot_date, session_name)
      DO UPDATE SET booked = slot.booked + 1
        WHERE slot.booked < coalesce(slot.quota_override, %(quota)s)
      RETURNING slot.booked
    ), number AS (
      INSERT INTO office_days AS office_day (office_code, day, last_queue_seq)
      SELECT %(office)s, %(day)s, 1 FROM claim
      ON CONFLICT (office_code, day)
      DO UPDATE SET last_queue_seq = office_day.last_queue_seq + 1
      RETURNING office_day.last_queue_seq
    ), booking AS (
      INSERT INTO bookings
        (office_code, booking_date, session_name, queue_seq, code, phone, nik_hash,
         nik_masked, status, created_at, reschedules, late_cancel)
      SELECT %(office)s, %(day)s, %(session)s, number.last_queue_seq, %(code)s, %(phone)s,
             %(nik_hash)s, %(nik_masked)s, '{BookingStatus.ACTIVE.value}', %(now)s, 0, false
      FROM number
      RETURNING id, queue_seq
    ), attempt AS (
      INSERT INTO booking_attempts (at, phone, nik_hash, nik_masked, office_code, outcome)
      SELECT %(now)s, %(phone)s, %(nik_hash)s, %(nik_masked)s, %(office)s, 'booked'
      FROM booking
    )
    SELECT id, queue_seq FROM booking
"""

# The audit chain's head, locked as AuditChain.append locks it, until the commit.
LOCK_CHAIN_HEAD = "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"

# Appends the booking's record to the chain and logs the reply, before the COMMIT.
SEAL_AND_REPLY = f"""
    WITH record AS (
      INSERT INTO audit_chain (seq, at, kind, subject, data, prev_hash, hash)
      VALUES (%(seq)s, %(at)s, %(kind)s, %(subject)s, %(data)s, %(prev_hash)s, %(hash)s)
    ), head AS (
      UPDATE audit_chain_head SET seq = %(seq)s, hash = %(hash)s WHERE id = 1
    )
    INSERT INTO messages
      (direction, transport, phone, gateway_number, body, reply_to_id, created_at,
       status, attempts)
    VALUES ('{Direction.OUT.value}', %(transport)s, %(phone)s, %(gateway_number)s,
            %(reply_body)s, %(reply_to)s, %(now)s, %(status)s, 0)
    RETURNING id
"""
