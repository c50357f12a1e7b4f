"""Every reply is one GSM-7 segment with the longest values the config allows."""

from __future__ import annotations

import logging
import string
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from handlers.routes import default_router
from sms_gateway import errors, replies
from sms_gateway.config import (
    MAX_OFFICE_NAME,
    MAX_SESSION_NAME,
    MAX_SESSIONS,
    OfficeSpec,
    SessionSpec,
)
from sms_gateway.gsm import SEGMENT_SEPTETS, fits_one_segment, septets
from sms_gateway.models import BookingStatus
from sms_gateway.schedule import MAX_REASON

# The longest value each template field can take. Where config validation sets the
# limit, the constant comes from there, so tightening a limit keeps this test honest.
WORST: dict[str, str] = {
    "queue": "ABCDE-99999",
    "office": "W" * MAX_OFFICE_NAME,
    "office_code": "ABCDE",
    "wd": "Sen",
    "next_wd": "Sen",
    "date": "30-12-2026",
    "next": "30-12-2026",
    "session": "S" * MAX_SESSION_NAME,
    "alt": "S" * MAX_SESSION_NAME,
    "sessions": "/".join(["S" * MAX_SESSION_NAME] * MAX_SESSIONS),
    "window": "08:00-12:00",
    "code": "K7MXQ4",
    "given": "G" * replies.MAX_ECHO,
    "text": "T" * replies.MAX_ECHO,
    "word": "W" * replies.MAX_ECHO,
    "detail": "99",
    "n": "1600",
    "reason": "R" * MAX_REASON,
    "limit": "366",
    "offices": "",  # rendered by replies.offices(); see its own test
    "keyword": "BANTUAN",
    "usage": max([*replies.USAGE.values(), *(r.usage for r in default_router().routes)], key=len),
    "until": "30-12-2026",
    # staff replies
    "what": "Nomor",
    "masked": "3528********0001",
    "tries": "4",
    "time": "23:59",
    "counter": "C" * 8,
    "waiting": "9999",
    "ref": "R" * replies.MAX_ECHO,
    "status": max((s.value for s in BookingStatus), key=len),
    "nik": "3528********0001",
    "other": "ABCDE",
    "booked": "9999",
    "arrived": "9999",
    "served": "9999",
    "cancelled": "9999",
    "no_show": "9999",
    "free": ", ".join(["S" * MAX_SESSION_NAME + " 9999"] * MAX_SESSIONS),
    "old": "9999",
    "new": "9999",
    "amount": "9999",
    "count": "9999",
    # fairness replies
    "deadline": "21:00",
    "position": "9999",
    "session_part": " sesi " + "S" * MAX_SESSION_NAME,
    "no_shows": "99",
    "window_days": "3650",
    "days": "365",
    "many_niks": "9999",
    "nik_limit": "99",
    "many_phones": "9999",
    "bursts": "9999",
    "problem": " (sesi " + "/".join(["S" * MAX_SESSION_NAME] * MAX_SESSIONS) + ")",
    "why": " (" + "W" * replies.MAX_REASON_SHOWN + ")",
    # the audit chain's daily anchor
    "seq": "9999999999",
    "hash": "f" * 64,
    # lottery
    "draw_wd": "Sen",
    "draw_date": "30-12-2026",
    "open_date": "30-12-2026",
}

KEYWORDS = tuple(r.keyword for r in default_router().routes)
# Replies that report rather than refuse, or whose next step happens at the counter.
REPORTS = {
    "audit_anchor",
    "busy",
    "panggil_sms",
    "rekap",
    "hadir_wrong_office",
    "buka_ok",
    "staff_locked",
}


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("name", sorted(replies.TEMPLATES))
def test_every_template_fits_one_gsm7_segment_with_worst_case_values(name: str) -> None:
    template = replies.TEMPLATES[name]
    missing = fields_of(template) - WORST.keys()
    assert not missing, f"add worst-case values for {missing}"
    text = template.format(**WORST)
    length = septets(text)
    assert length is not None, f"{name} is not GSM-7: {text!r}"
    assert length <= SEGMENT_SEPTETS, f"{name}: {length} septets: {text!r}"


@pytest.mark.parametrize("name", sorted(set(replies.TEMPLATES) - REPORTS))
def test_every_reply_says_which_command_to_send(name: str) -> None:
    text = replies.TEMPLATES[name].format(**WORST)
    assert any(keyword in text for keyword in KEYWORDS), text


def test_did_you_mean_fits_for_every_keyword() -> None:
    router = default_router()
    for route in router.routes:
        text = replies.did_you_mean(route.keyword, router.usage(route.keyword))
        assert fits_one_segment(text), text
        assert text.startswith(f"Maksud Anda {route.keyword}? Kirim: {route.keyword}")


def _office(code: str, name: str) -> OfficeSpec:
    return OfficeSpec(
        code=code,
        name=name,
        sms_number=None,
        open_days=frozenset(range(5)),
        closed_dates={},
        timezone=ZoneInfo("Asia/Jakarta"),
        sessions=(SessionSpec("PAGI", time(8), time(12), 10),),
    )


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 40])
def test_office_list_always_fits_and_names_the_first_office(n: int) -> None:
    offices = [_office(f"K{i:03d}", f"Kantor Imigrasi Kelas I TPI Nomor {i:03d}") for i in range(n)]
    text = replies.offices(offices)
    assert fits_one_segment(text), text
    assert "K000" in text
    assert text.endswith("DAFTAR <NIK> <tanggal> K000")


def test_office_list_shows_names_when_they_fit() -> None:
    text = replies.offices([_office("PMK", "Kantor Imigrasi Pamekasan")])
    assert "PMK=Kantor Imigrasi Pamekasan" in text


def test_render_cleans_non_gsm_values() -> None:
    text = replies.render(
        "unknown_session",
        word="\u201cSORE\u201d",
        office_code="PMK",
        sessions="PAGI",
        session="PAGI",
    )
    assert '"SORE"' in text
    assert septets(text) is not None


def test_render_shortens_an_overlong_reply_to_one_segment_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sms_gateway.replies"):
        text = replies.render(
            "unknown_word", word="x" * 300, office_code="PMK", sessions="PAGI", session="PAGI"
        )
    assert fits_one_segment(text)
    assert "longer than one SMS segment" in caplog.text


def test_echo_shortens_and_neutralises_quotes() -> None:
    assert replies.echo('a"b') == "a'b"
    assert len(replies.echo("z" * 100)) == replies.MAX_ECHO


def test_every_domain_error_has_a_reply() -> None:
    base = replies.refusal.dispatch(errors.DomainError)
    for cls in errors.DomainError.__subclasses__():
        assert replies.refusal.dispatch(cls) is not base, f"no reply for {cls.__name__}"


def test_date_refusal_without_any_open_date_says_to_try_later() -> None:
    office = _office("PMK", "Kantor Imigrasi Pamekasan")
    text = replies.refusal(
        errors.DateNotBookable("closed", date(2026, 12, 8), office, None, reason="banjir")
    )
    assert text.startswith("PMK belum membuka tanggal yang bisa didaftar.")
    assert "KANTOR" in text
