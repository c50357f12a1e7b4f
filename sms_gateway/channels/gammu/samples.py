"""Raw input as Gammu SMSD 1.42 gives it to ``RunOnReceive``: environments and arguments.

Modelled on what the real daemon sets (``tests/gammu_harness.py`` pins it
against gammu-smsd on Gammu's dummy phone): ``SMS_MESSAGES`` parts with their
``SMS_n_*`` variables, ``DECODED_PARTS`` (1 with the reassembled text for a
concatenated SMS) and the inbox file name as the one argument
(``InboxFormat = detail``). ``INBOX_FILE`` is what that inbox file holds, for
``gammu-receive --replay``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sms_gateway.messages import InboundMessage

APPLICANT = "+6281234567890"
SINGLE_ID = "IN20261127_195928_00_+6281234567890_00.txt"
LONG_ID = "IN20261127_200102_00_+6281234567890_00.txt"
LONG_TEXT = "DAFTAR 3528011505900001 8-12-2026 " + "mohon dibantu " * 10


@dataclass(frozen=True)
class SmsdSample:
    """One RunOnReceive call and the message it must give (None: not a citizen's SMS)."""

    name: str
    environment: Mapping[str, str]
    arguments: tuple[str, ...]
    message: InboundMessage | None


def _message(text: str, external_id: str) -> InboundMessage:
    return InboundMessage(
        transport="gammu",
        sender=APPLICANT,
        text=text,
        external_id=external_id,
        reply_inline=False,
    )


SAMPLES = (
    SmsdSample(
        name="single",
        environment={
            "SMS_MESSAGES": "1",
            "SMS_1_CLASS": "-1",
            "SMS_1_NUMBER": APPLICANT,
            "SMS_1_REFERENCE": "0",
            "SMS_1_TEXT": "CEK \u00e7",
            "PHONE_ID": "",
            "DECODED_PARTS": "0",
        },
        arguments=(SINGLE_ID,),
        message=_message("CEK \u00e7", SINGLE_ID),
    ),
    SmsdSample(
        name="concatenated",
        environment={
            "SMS_MESSAGES": "2",
            "SMS_1_CLASS": "-1",
            "SMS_1_NUMBER": APPLICANT,
            "SMS_1_REFERENCE": "0",
            "SMS_1_TEXT": LONG_TEXT[:153],
            "SMS_2_CLASS": "-1",
            "SMS_2_NUMBER": APPLICANT,
            "SMS_2_REFERENCE": "0",
            "SMS_2_TEXT": LONG_TEXT[153:],
            "PHONE_ID": "",
            "DECODED_PARTS": "1",
            "DECODED_1_TEXT": LONG_TEXT,
        },
        arguments=(LONG_ID,),
        message=_message(LONG_TEXT, LONG_ID),
    ),
    SmsdSample(
        name="ussd-answer",
        environment={
            "SMS_MESSAGES": "1",
            "SMS_1_CLASS": "127",
            "SMS_1_NUMBER": "",
            "SMS_1_REFERENCE": "0",
            "SMS_1_TEXT": "Sisa pulsa Rp 5.000",
            "PHONE_ID": "",
            "DECODED_PARTS": "0",
        },
        arguments=("IN20261127_200500_00__00.txt",),
        message=None,
    ),
)

# The inbox file SMSD keeps for the "single" sample (InboxFormat = detail), as written.
INBOX_FILE = """\
; This file format was designed for Gammu and is compatible with Gammu+
; See <http://www.gammu.org> for more info
; Saved 20261127T195930 (Fri Nov 27 19:59:30 2026)

[SMSBackup000]
; CEK \u00e7
PDU = Submit
DateTime = 20261127T195928Z
State = UnRead
Number = "+6281234567890"
NumberUnicode = 002B0036003200380031003200330034003500360037003800390030
Name = ""
NameUnicode = \nText00 = 00430045004B002000E7
Coding = Unicode_No_Compression
Folder = 1
Length = 5
Class = -1
ReplySMSC = False
RejectDuplicates = False
ReplaceMessage = 0
MessageReference = 0
"""
