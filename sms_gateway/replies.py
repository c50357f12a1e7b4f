"""Every reply the gateway sends, in Bahasa Indonesia, each one SMS segment.

All texts live here so a translator or a cost review sees them at once.
``tests/test_replies.py`` renders every template with the longest values the
configuration allows and asserts 160 GSM-7 septets at most; ``render`` still
cleans and, as a last resort, shortens a reply so an odd value can never
split it into two paid segments.

Every refusal says what to send instead.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from functools import cache, singledispatch

from sms_gateway import errors
from sms_gateway.config import OfficeSpec
from sms_gateway.dates import format_date, weekday_short
from sms_gateway.gsm import fits_one_segment, to_gsm7, truncate_to_segment
from sms_gateway.models import Booking, BookingStatus, LotteryEntry, WaitlistEntry
from sms_gateway.summary import DaySummary

log = logging.getLogger(__name__)

# Structurally valid (Pamekasan) and shown in every usage text, so some applicants
# will send it as it is: DAFTAR refuses it rather than book a seat on a NIK that
# may well be a real person's.
EXAMPLE_NIK = "3528011701950001"
# Day/month only: the example never shows a year that has passed.
DAFTAR_EXAMPLE = f"DAFTAR {EXAMPLE_NIK} 8/12"

TEMPLATES: dict[str, str] = {
    # -- help and unknown input ----------------------------------------------------------
    "help": (
        "Antrean paspor lewat SMS. Daftar: DAFTAR <NIK> <tanggal>, mis. "
        + DAFTAR_EXAMPLE
        + ". Lihat: CEK. Batal: BATAL. Daftar kantor: KANTOR. Data Anda: PRIVASI"
    ),
    "unknown": (
        "Perintah tidak dikenal. Untuk daftar kirim DAFTAR <NIK> <tanggal>, mis. "
        + DAFTAR_EXAMPLE
        + ". Lainnya: CEK, BATAL, KANTOR, BANTUAN"
    ),
    "did_you_mean": "Maksud Anda {keyword}? Kirim: {usage}",
    "daftar_usage": (
        "Format: DAFTAR <NIK> <tanggal> <sesi> <kode kantor>; sesi & kantor boleh kosong. "
        "Mis. " + DAFTAR_EXAMPLE + " PAGI. Tanggal boleh 8/12, 8 Des, besok"
    ),
    # -- bookings ------------------------------------------------------------------------
    "booked": (
        "Terdaftar! Antrean {queue} {office}, {wd} {date} {session}, datang {window}. "
        "Kode {code}. Bawa KTP asli. Batal: kirim BATAL"
    ),
    "already_booked": (
        "Sudah terdaftar: antrean {queue} {office}, {wd} {date} {session}, datang {window}. "
        "Kode {code}. Batal: kirim BATAL"
    ),
    "status": (
        "Antrean Anda {queue} {office}, {wd} {date} {session}, datang {window}. "
        "Kode {code}. Bawa KTP asli. Batal: kirim BATAL"
    ),
    "no_booking": (
        "Nomor ini tidak punya antrean aktif. Untuk daftar kirim DAFTAR <NIK> <tanggal>, "
        "mis. " + DAFTAR_EXAMPLE
    ),
    "no_booking_to_cancel": (
        "Tidak ada antrean aktif untuk dibatalkan. Untuk daftar kirim DAFTAR <NIK> <tanggal>, "
        "mis. " + DAFTAR_EXAMPLE
    ),
    "cancelled": (
        "Antrean {queue} {wd} {date} sudah dibatalkan dan kursinya dilepas. "
        "Daftar lagi: DAFTAR <NIK> <tanggal>"
    ),
    "wrong_code": (
        "Kode {given} bukan kode antrean Anda. Kirim BATAL saja untuk membatalkan {queue}, "
        "atau CEK untuk melihatnya"
    ),
    "offices": "Kantor: {offices}. Pilih dgn kode di akhir: DAFTAR <NIK> <tanggal> {code}",
    # -- NIK problems -------------------------------------------------------------------
    "nik_missing": ("NIK belum ada. Kirim DAFTAR <NIK 16 angka> <tanggal>, mis. " + DAFTAR_EXAMPLE),
    "nik_chars": (
        "NIK hanya berisi angka. Periksa KTP lalu kirim DAFTAR <NIK 16 angka> <tanggal>, "
        "mis. " + DAFTAR_EXAMPLE
    ),
    "nik_length": (
        "NIK harus 16 angka, terbaca {n} angka. Periksa KTP lalu kirim lagi: "
        "DAFTAR <NIK> <tanggal>, mis. " + DAFTAR_EXAMPLE
    ),
    "nik_province": (
        "Kode provinsi NIK ({detail}, 2 angka pertama) tidak dikenal. Periksa KTP lalu kirim "
        "lagi: DAFTAR <NIK> <tanggal>"
    ),
    "nik_day": (
        "Tanggal lahir di NIK (angka ke-7 dan 8: {detail}) salah. Periksa KTP lalu kirim lagi: "
        "DAFTAR <NIK> <tanggal>"
    ),
    "nik_month": (
        "Bulan lahir di NIK (angka ke-9 dan 10: {detail}) salah. Periksa KTP lalu kirim lagi: "
        "DAFTAR <NIK> <tanggal>"
    ),
    "nik_example": (
        "Itu NIK contoh. Kirim NIK Anda sendiri (16 angka di KTP): DAFTAR <NIK> <tanggal>, "
        "mis. DAFTAR <NIK> 8/12"
    ),
    "nik_serial": (
        "4 angka terakhir NIK tidak boleh 0000. Periksa KTP lalu kirim lagi: DAFTAR <NIK> <tanggal>"
    ),
    "nik_taken": (
        "NIK ini sudah punya antrean aktif lewat nomor lain. 1 NIK hanya 1 antrean di semua "
        "kantor. Batalkan dulu: kirim BATAL dari nomor itu"
    ),
    "blocked_phone": (
        "Nomor ini tidak bisa mendaftar s/d {until}{why}. Untuk keberatan datang ke kantor "
        "imigrasi. Info: kirim BANTUAN"
    ),
    "blocked_nik": (
        "NIK ini tidak bisa mendaftar s/d {until}{why}. Untuk keberatan datang ke kantor "
        "imigrasi. Info: kirim BANTUAN"
    ),
    "phone_taken": (
        "Nomor ini sudah punya antrean {queue} ({wd} {date}). 1 nomor 1 antrean. Untuk ganti, "
        "kirim BATAL lalu DAFTAR lagi. Lihat: CEK"
    ),
    # -- date problems ------------------------------------------------------------------
    "date_missing": "Tanggal belum ada. Kirim DAFTAR <NIK> <tanggal>, mis. DAFTAR <NIK> {next}",
    "date_unrecognised": (
        'Tanggal "{text}" tidak dikenali. Tulis spt 8-12-2026, 8/12, 8 Des, besok, senin. '
        "Kirim DAFTAR <NIK> <tanggal>, mis. DAFTAR <NIK> {next}"
    ),
    "date_impossible": (
        "Tanggal {text} tidak ada di kalender. Kirim lagi DAFTAR <NIK> <tanggal>, "
        "mis. DAFTAR <NIK> {next}"
    ),
    "date_past": (
        "Tanggal {date} sudah lewat. Tanggal terdekat yang bisa: {next_wd} {next}. "
        "Kirim DAFTAR <NIK> {next}"
    ),
    "date_too_soon": (
        "Daftar paling lambat {limit} hari sebelumnya, {date} terlalu dekat. Terdekat yang "
        "bisa: {next_wd} {next}. Kirim DAFTAR <NIK> {next}"
    ),
    "date_too_far": (
        "Daftar paling jauh {limit} hari ke depan, {date} terlalu jauh. Terdekat yang bisa: "
        "{next_wd} {next}. Kirim DAFTAR <NIK> {next}"
    ),
    "date_closed": (
        "{office_code} tutup {wd} {date} ({reason}). Tanggal buka terdekat: {next_wd} "
        "{next}. Kirim DAFTAR <NIK> {next}"
    ),
    "no_open_date": (
        "{office_code} belum membuka tanggal yang bisa didaftar. Coba lagi besok, atau kirim "
        "KANTOR untuk kantor lain"
    ),
    # -- office / session problems ------------------------------------------------------
    "unknown_word": (
        '"{word}" bukan kode kantor/sesi. Sesi {office_code}: {sessions}. Kode kantor: '
        "kirim KANTOR. Mis. DAFTAR <NIK> <tanggal> {session}"
    ),
    "unknown_session": (
        "Sesi {word} tidak ada di {office_code}. Pilih {sessions}, mis. "
        "DAFTAR <NIK> <tanggal> {session}"
    ),
    "session_full_try_other": (
        "Sesi {session} {wd} {date} penuh. Sesi {alt} masih ada: kirim DAFTAR <NIK> {date} {alt}"
    ),
    "day_full_try_next": (
        "Kuota {office_code} {wd} {date} sudah penuh. Tunggu kursi: TUNGGU <NIK> {date}. Atau "
        "{next_wd} {next}: DAFTAR <NIK> {next}"
    ),
    "all_full": (
        "Kuota {office_code} {wd} {date} dan tanggal lain sudah penuh. Tunggu kursi: TUNGGU "
        "<NIK> {date}, atau kirim KANTOR untuk kantor lain"
    ),
    # -- fairness: confirmation, waitlist, reschedule, penalties, limits -----------------
    "reminder": (
        "Besok {wd} {date} antrean {queue} {session} {window}, {office}. Kode {code}. Balas YA "
        "jika datang, BATAL jika tidak"
    ),
    "reminder_confirm": (
        "Besok {wd} {date} antrean {queue} {session} {window}, {office}. Balas YA s/d {deadline}"
        " atau kursi dilepas. Batal: BATAL"
    ),
    "released": (
        "Antrean {queue} {wd} {date} dilepas karena tidak ada balasan YA sebelum {deadline}. "
        "Daftar lagi: DAFTAR <NIK> <tanggal>"
    ),
    "promoted": (
        "Dapat kursi! Antrean {queue} {office}, {wd} {date} {session}, datang {window}. "
        "Kode {code}. Bawa KTP. Batal: kirim BATAL"
    ),
    "wait_expired": (
        "Maaf, tidak ada kursi kosong untuk {office_code} {wd} {date}; daftar tunggu ditutup. "
        "Daftar tanggal lain: DAFTAR <NIK> <tanggal>"
    ),
    "ya_ok": (
        "Terima kasih, kedatangan {queue} {wd} {date} {session} {window} dikonfirmasi. Bawa KTP "
        "asli. Tidak jadi datang? kirim BATAL"
    ),
    "tunggu_ok": (
        "Anda di daftar tunggu no. {position} untuk {office_code} {wd} {date}{session_part}. Jika "
        "ada kursi, kami SMS nomor antrean. Keluar: BATAL"
    ),
    "already_waiting_phone": (
        "Nomor ini sudah di daftar tunggu {office_code} {wd} {date}. 1 nomor 1 permintaan. "
        "Keluar dulu dengan BATAL, lalu kirim lagi. Lihat: CEK"
    ),
    "already_waiting_nik": (
        "NIK ini sudah di daftar tunggu lewat nomor lain. 1 NIK 1 permintaan. Keluar dulu: "
        "kirim BATAL dari nomor itu"
    ),
    "wait_left": (
        "Anda keluar dari daftar tunggu {office_code} {wd} {date}. Daftar lagi: DAFTAR <NIK> "
        "<tanggal>"
    ),
    "cek_waiting": (
        "Anda di daftar tunggu no. {position} untuk {office_code} {wd} {date}. Kami SMS jika ada "
        "kursi. Keluar: BATAL"
    ),
    "not_waitlistable": (
        "Masih ada kursi {office_code} {wd} {date}, tidak perlu menunggu. Kirim DAFTAR <NIK> {date}"
    ),
    "ubah_ok": (
        "Dipindah! Antrean {queue} {office}, {wd} {date} {session}, datang {window}. Kode {code}."
        " Bawa KTP. Batal: kirim BATAL"
    ),
    "ubah_usage": (
        "Format: UBAH <tanggal> <sesi>, sesi boleh kosong, mis. UBAH 8/12 SIANG. Antrean lama "
        "tetap sampai kursi baru didapat"
    ),
    "move_checked_in": (
        "Antrean {queue} sudah HADIR, tidak bisa dipindah. Tanya petugas loket. Lihat: CEK"
    ),
    "move_too_many": (
        "Antrean {queue} sudah dipindah {limit} kali, batas maksimal. Untuk tanggal lain: BATAL "
        "lalu DAFTAR <NIK> <tanggal>"
    ),
    "move_same": (
        "Antrean {queue} sudah di {wd} {date} {session}. Untuk pindah kirim UBAH <tanggal> "
        "<sesi>, mis. UBAH 8/12 SIANG"
    ),
    "penalized": (
        "Anda {no_shows}x tidak datang dalam {window_days} hari, jadi belum bisa mendaftar s/d "
        "{until}. Setelah itu kirim DAFTAR <NIK> <tanggal>"
    ),
    "too_many_niks": (
        "Nomor ini sudah dipakai mendaftar {limit} NIK dalam 30 hari. Daftarkan dari nomor HP "
        "pemohon sendiri: DAFTAR <NIK> <tanggal>"
    ),
    "rate_limited": (
        "Terlalu banyak SMS dari nomor ini. Pesan berikutnya tidak dibalas selama 1 jam. Setelah "
        "itu kirim BANTUAN"
    ),
    "cancelled_late": (
        "Antrean {queue} {wd} {date} dibatalkan setelah batas konfirmasi, dihitung tidak datang."
        " Daftar lagi: DAFTAR <NIK> <tanggal>"
    ),
    "laporan": (
        "LAPORAN {office_code} {days} hari: {many_niks} HP dgn >={nik_limit} NIK, {many_phones} "
        "NIK dari >1 HP, {no_shows} sering tdk datang, {bursts} lonjakan. Rinci: sms-gateway "
        "report"
    ),
    # -- staff (their own phones; the PIN is never echoed) -------------------------------
    "staff_usage": "Format: {usage}{problem}",
    "staff_wrong_pin": (
        "PIN salah. Sisa {tries} kali sebelum nomor ini dikunci 30 menit. Format: {usage}"
    ),
    "staff_locked": (
        "Nomor ini dikunci s/d {time} karena PIN salah 5 kali. Coba lagi setelah itu, atau "
        "minta admin: sms-gateway staff reset-pin"
    ),
    "staff_wrong_role": (
        "{keyword} hanya untuk kepala kantor. Perintah petugas: HADIR, PANGGIL, SELESAI, REKAP"
    ),
    "hadir_ok": (
        "HADIR: {queue} sesi {session}, NIK cocok ({nik}). Pemohon menunggu dipanggil. "
        "Panggil: PANGGIL <PIN> <loket>"
    ),
    "hadir_again": "{queue} sudah tercatat hadir. Panggil: PANGGIL <PIN> <loket>",
    "hadir_unknown": (
        "Kode {code} tidak ada. Periksa kode di SMS pemohon lalu kirim HADIR <PIN> <KODE> "
        "<NIK atau 4 angka terakhir>"
    ),
    "hadir_wrong_office": (
        "Kode {code} untuk kantor {other}, bukan {office_code}. Arahkan pemohon ke kantor "
        "{other}; tidak dicatat hadir"
    ),
    "hadir_wrong_day": (
        "Kode {code} untuk {wd} {date}, bukan hari ini. Tidak dicatat hadir; pemohon datang "
        "sesuai tanggal atau DAFTAR ulang"
    ),
    "hadir_nik_mismatch": (
        "NIK TIDAK COCOK untuk {queue}. Jangan layani: antrean bisa hasil beli dari calo. "
        "Periksa KTP lalu kirim lagi HADIR <PIN> <KODE> <NIK>"
    ),
    "hadir_not_active": (
        "{queue} berstatus {status}, tidak bisa HADIR. Pemohon bisa DAFTAR lagi untuk hari lain"
    ),
    "panggil_ok": (
        "Panggil {queue} ke loket {counter}; SMS ke pemohon dikirim. Masih menunggu: {waiting}. "
        "Selesai: SELESAI <PIN> {queue}"
    ),
    "panggil_none": (
        "Belum ada pemohon HADIR yang menunggu di {office_code}. Catat kedatangan: "
        "HADIR <PIN> <KODE> <NIK>"
    ),
    "panggil_sms": "Nomor {queue} silakan ke loket {counter}. {office}",
    "selesai_ok": "{queue} selesai dilayani. Berikutnya: PANGGIL <PIN> <loket>",
    "selesai_unknown": (
        "{ref} tidak ada di antrean hari ini di {office_code}. Kirim SELESAI <PIN> <KODE atau "
        "nomor antrean>"
    ),
    "selesai_not_here": (
        "{queue} berstatus {status}, belum HADIR. Catat dulu: HADIR <PIN> <KODE> <NIK>"
    ),
    "rekap": (
        "REKAP {office_code} {date}: daftar {booked}, hadir {arrived}, selesai {served}, "
        "batal {cancelled}, tdk datang {no_show}. Sisa: {free}"
    ),
    "kuota_ok": (
        "Kuota {office_code} {date} {session}: {old} menjadi {new} (terisi {booked}). "
        "Cek: REKAP <PIN> {date}"
    ),
    "kuota_below": (
        "Kuota tidak bisa {amount}: {session} {date} sudah terisi {booked}. Kirim KUOTA <PIN> "
        "{date} {session} <minimal {booked}>"
    ),
    "tutup_ok": (
        "{office_code} ditutup {wd} {date}. Antrean dibatalkan: {count}, tiap pemohon diberi SMS. "
        "Buka lagi: BUKA <PIN> {date}"
    ),
    "tutup_again": (
        "{office_code} sudah ditutup {wd} {date}; tidak ada SMS baru. Buka lagi: BUKA <PIN> {date}"
    ),
    "tutup_sms": (
        "Maaf, {office} tutup {wd} {date}{why}. Antrean {queue} dibatalkan. Daftar lagi: "
        "DAFTAR <NIK> <tanggal>"
    ),
    "buka_ok": (
        "{office_code} dibuka lagi {wd} {date}; pendaftaran baru diterima. Antrean yang sudah "
        "dibatalkan tidak kembali"
    ),
    "buka_not_closed": (
        "{office_code} tidak ditutup lewat SMS pada {date}. Untuk menutup: TUTUP <PIN> {date} "
        "<alasan>"
    ),
    "blokir_ok": "{what} {masked} diblokir s/d {until}. Lepas: LEPAS <PIN> <nomor HP atau NIK>",
    "lepas_ok": "{what} {masked} dilepas dari blokir ({count}). Cek lagi: REKAP <PIN>",
    "lepas_none": (
        "{what} {masked} tidak sedang diblokir. Blokir: BLOKIR <PIN> <nomor HP atau NIK> <hari>"
    ),
    "siaran_ok": "SIARAN untuk {count} pemohon {wd} {date} masuk antrean kirim. Cek: REKAP <PIN>",
    "siaran_none": (
        "Tidak ada antrean aktif {wd} {date} di {office_code}; tidak ada SMS. Cek: "
        "REKAP <PIN> {date}"
    ),
    "audit_anchor": (
        "Jangkar audit #{seq} {hash} ({date} jam {time}). Simpan SMS ini sbg bukti. "
        "Cek: REKAP <PIN>"
    ),
    "staff_bad_date": 'Tanggal "{text}" tidak dikenali. Format: {usage}',
    "staff_past_date": "Tanggal {date} sudah lewat. Format: {usage}",
    # -- lottery allocation ------------------------------------------------------------
    "lottery_entered": (
        "Anda ikut undian {office_code} {wd} {date}{session_part}. Diundi {draw_wd} "
        "{draw_date} jam {time}, hasil lewat SMS. Cek: CEK. Keluar: BATAL"
    ),
    "lottery_again": (
        "Anda sudah ikut undian {office_code} {wd} {date}{session_part}, diundi {draw_wd} "
        "{draw_date} jam {time}. Cek: CEK. Keluar: BATAL"
    ),
    "lottery_left": (
        "Anda keluar dari undian {office_code} {wd} {date}. Ikut lagi: DAFTAR <NIK> <tanggal>"
    ),
    "lottery_won": (
        "Menang undian! Antrean {queue} {office}, {wd} {date} {session}, datang {window}. "
        "Kode {code}. Bawa KTP. Batal: BATAL"
    ),
    "lottery_waitlisted": (
        "Undian {office_code} {wd} {date}: belum dapat kursi. Anda daftar tunggu no. "
        "{position}; jika ada kursi kami SMS. Keluar: BATAL"
    ),
    "lottery_not_open": (
        "{office_code} {wd} {date} dibagi lewat undian; pendaftaran dibuka {open_date}. "
        "Kirim DAFTAR <NIK> <tanggal> mulai tanggal itu"
    ),
    "lottery_pending": (
        "{office_code} {wd} {date} dibagi lewat undian, diundi {draw_wd} {draw_date} jam {time}. "
        "Ikut undian: DAFTAR <NIK> <tanggal>"
    ),
    "lottery_pending_booked": (
        "{office_code} {wd} {date} dibagi lewat undian, diundi {draw_wd} {draw_date} jam {time}. "
        "Untuk ikut: BATAL lalu DAFTAR <NIK> <tanggal>"
    ),
    "lottery_drawing": (
        "Undian {office_code} {wd} {date} sedang diundi; hasil lewat SMS. Kirim lagi DAFTAR "
        "<NIK> <tanggal> 10 menit lagi"
    ),
    "already_entered_phone": (
        "Nomor ini sudah ikut undian {office_code} {wd} {date}. 1 nomor HP hanya 1 permintaan. "
        "Keluar dulu: BATAL"
    ),
    "already_entered_nik": (
        "NIK ini sudah ikut undian lewat nomor lain. 1 NIK hanya 1 permintaan. Keluar dari "
        "nomor itu: BATAL"
    ),
    # -- the gateway itself -------------------------------------------------------------
    "unreadable": (
        "Maaf, pesan Anda tidak terbaca. Kirim ulang dengan huruf dan angka biasa, "
        "mis. " + DAFTAR_EXAMPLE
    ),
    "busy": (
        "Maaf, sistem sedang gangguan dan pesan Anda belum diproses. Kirim lagi pesan yang "
        "sama beberapa menit lagi"
    ),
}

# Usage lines used by "did you mean ...?" replies, keyed by the canonical keyword.
USAGE: dict[str, str] = {
    "DAFTAR": "DAFTAR <NIK> <tanggal>, mis. " + DAFTAR_EXAMPLE,
    "UBAH": "UBAH <tanggal> <sesi>, mis. UBAH 8/12 SIANG (sesi boleh kosong)",
    "YA": "YA untuk konfirmasi datang besok",
    "TUNGGU": "TUNGGU <NIK> <tanggal> untuk antre tunggu kursi",
    "BATAL": "BATAL untuk membatalkan antrean Anda",
    "CEK": "CEK untuk melihat antrean Anda",
    "KANTOR": "KANTOR untuk daftar kode kantor",
    "BANTUAN": "BANTUAN untuk petunjuk",
}

# How long a user-supplied fragment may be when echoed back.
MAX_ECHO = 16
# The longest digit string a reply may repeat: more than a date, less than a NIK.
MAX_ECHO_DIGITS = 8
# Nine or more digits, each pair at most one separator apart ("3528.0115.0590").
_LONG_DIGITS = re.compile(rf"\d(?:[\W_]?\d){{{MAX_ECHO_DIGITS},}}")
# How much of a staff-given reason (BLOKIR, TUTUP) a reply shows.
MAX_REASON_SHOWN = 24


def render(name: str, **fields: object) -> str:
    """Fill the template ``name`` and make sure the result is one GSM-7 segment."""
    text = to_gsm7(TEMPLATES[name].format(**fields))
    if not fits_one_segment(text):
        # The template tests make this unreachable for configured values; keep the
        # SMS to one segment anyway and leave a trace so the template gets fixed.
        log.warning("reply %r longer than one SMS segment; shortened", name)
        text = truncate_to_segment(text)
    return text


@cache
def _template_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Every template as a regex with one named group per field, most specific first."""
    patterns = []
    for name, template in TEMPLATES.items():
        parts: list[str] = []
        seen: set[str] = set()
        for literal, field_name, _spec, _conv in string.Formatter().parse(template):
            parts.append(re.escape(literal))
            if field_name is None:
                continue
            parts.append(f"(?P={field_name})" if field_name in seen else f"(?P<{field_name}>.*?)")
            seen.add(field_name)
        patterns.append((name, re.compile("".join(parts), re.DOTALL)))
    # The template with the most fixed text wins a tie.
    return sorted(patterns, key=lambda p: -len(re.sub(r"\{[^}]*\}", "", TEMPLATES[p[0]])))


def template_of(text: str) -> tuple[str | None, dict[str, str]]:
    """Return the name of the template a reply was made from, and its fields.

    None when no template fits (an empty reply, or text from elsewhere). Tests,
    the benchmark and the simulator read replies with this.
    """
    for name, pattern in _template_patterns():
        found = pattern.fullmatch(text)
        if found:
            return name, found.groupdict()
    return None, {}


def echo(fragment: str, limit: int = MAX_ECHO) -> str:
    """Return user text safe to quote back: plain GSM-7 and at most ``limit`` characters.

    A digit string longer than eight (a NIK, say, sent where a code or a date
    belongs) is cut to its first four digits: a reply never repeats one.
    """
    folded = _LONG_DIGITS.sub(
        lambda m: m.group(0)[:4] + "..", unicodedata.normalize("NFKC", fragment)
    )
    clean = to_gsm7(folded).replace('"', "'")
    return clean if len(clean) <= limit else clean[: limit - 2] + ".."


def _when(day: date) -> dict[str, str]:
    return {"wd": weekday_short(day), "date": format_date(day)}


def booking_fields(booking: Booking, office: OfficeSpec) -> dict[str, str]:
    """Return the template fields that describe one booking."""
    session = office.session(booking.session_name)
    return {
        "queue": booking.queue_number,
        "office": office.name,
        "session": booking.session_name,
        "window": session.window if session else "",
        "code": booking.code,
        **_when(booking.booking_date),
    }


def booked(booking: Booking, office: OfficeSpec, *, again: bool = False) -> str:
    """Confirm a booking (``again`` when a repeated DAFTAR found the same one)."""
    return render("already_booked" if again else "booked", **booking_fields(booking, office))


def status(booking: Booking, office: OfficeSpec) -> str:
    """Describe the sender's active booking."""
    return render("status", **booking_fields(booking, office))


def cancelled(booking: Booking) -> str:
    """Confirm a cancellation (a late one counts as a no-show, and says so)."""
    key = "cancelled_late" if booking.late_cancel else "cancelled"
    return render(key, queue=booking.queue_number, **_when(booking.booking_date))


def offices(all_offices: Sequence[OfficeSpec]) -> str:
    """List office codes and names, dropping names, then offices, until it fits one SMS."""
    example = all_offices[0].code
    for listing in _office_listings(all_offices):
        text = TEMPLATES["offices"].format(offices=listing, code=example)
        if fits_one_segment(text):
            return text
    return render("offices", offices=example + " dll", code=example)


def _office_listings(all_offices: Sequence[OfficeSpec]) -> Iterator[str]:
    yield ", ".join(f"{o.code}={o.name}" for o in all_offices)
    codes = [o.code for o in all_offices]
    yield ", ".join(codes)
    for n in range(len(codes) - 1, 0, -1):
        yield ", ".join(codes[:n]) + " dll"


def promoted(booking: Booking, office: OfficeSpec) -> str:
    """Tell a waiting applicant they got a seat."""
    return render("promoted", **booking_fields(booking, office))


def moved(booking: Booking, office: OfficeSpec) -> str:
    """Confirm a reschedule (UBAH)."""
    return render("ubah_ok", **booking_fields(booking, office))


def confirmed(booking: Booking, office: OfficeSpec) -> str:
    """Thank the applicant for confirming (YA)."""
    return render("ya_ok", **booking_fields(booking, office))


def reminder(booking: Booking, office: OfficeSpec) -> str:
    """Remind an applicant the day before; ask for YA where confirmation is required."""
    if office.rules.require_confirmation and booking.confirmed_at is None:
        return render(
            "reminder_confirm",
            deadline=f"{office.rules.confirm_deadline:%H:%M}",
            **booking_fields(booking, office),
        )
    return render("reminder", **booking_fields(booking, office))


def released(booking: Booking, office: OfficeSpec) -> str:
    """Tell an applicant their unconfirmed seat was given up."""
    return render(
        "released",
        queue=booking.queue_number,
        deadline=f"{office.rules.confirm_deadline:%H:%M}",
        **_when(booking.booking_date),
    )


def waiting(entry: WaitlistEntry, position: int, *, key: str = "tunggu_ok") -> str:
    """Describe a waitlist entry and its place in line."""
    part = f" sesi {entry.session_name}" if entry.session_name else ""
    return render(
        key, position=position, office_code=entry.office_code, session_part=part, **_when(entry.day)
    )


def wait_left(entry: WaitlistEntry) -> str:
    """Confirm leaving the waitlist."""
    return render("wait_left", office_code=entry.office_code, **_when(entry.day))


def wait_expired(entry: WaitlistEntry, office: OfficeSpec) -> str:
    """Tell a waiting applicant the day came without a free seat."""
    return render("wait_expired", office_code=office.code, **_when(entry.day))


def closing_notice(booking: Booking, office: OfficeSpec, reason: str) -> str:
    """Tell an applicant the office closed on their day."""
    return render(
        "tutup_sms",
        office=office.name,
        queue=booking.queue_number,
        why=_why(reason),
        **_when(booking.booking_date),
    )


def rekap(office: OfficeSpec, day: date, summary: DaySummary) -> str:
    """Summarise one office day in one SMS."""
    counts = summary.counts
    return render(
        "rekap",
        office_code=office.code,
        date=format_date(day),
        booked=summary.booked,
        arrived=summary.arrived,
        served=counts[BookingStatus.SERVED],
        cancelled=counts[BookingStatus.CANCELLED] + counts[BookingStatus.CANCELLED_BY_OFFICE],
        no_show=counts[BookingStatus.NO_SHOW],
        free=", ".join(f"{name} {n}" for name, n in summary.free.items()),
    )


def did_you_mean(keyword: str, usage: str) -> str:
    """Suggest the keyword the sender probably meant, with how to use it."""
    return render("did_you_mean", keyword=keyword, usage=usage)


def _sessions(office: OfficeSpec) -> str:
    return "/".join(s.name for s in office.sessions)


def _next(day: date | None) -> dict[str, str]:
    if day is None:
        return {"next": "", "next_wd": ""}
    return {"next": format_date(day), "next_wd": weekday_short(day)}


@singledispatch
def refusal(err: errors.DomainError) -> str:
    """Turn a domain error into the reply that explains it and says what to send."""
    raise NotImplementedError(f"no reply for {type(err).__name__}")


@refusal.register
def _(err: errors.InvalidNik) -> str:
    if err.part == "length":
        return render("nik_length", n=err.detail)
    return render(f"nik_{err.part}", detail=echo(err.detail))


@refusal.register
def _(err: errors.InvalidDate) -> str:
    example = format_date(err.suggestion) if err.suggestion else "besok"
    if err.kind == "empty":
        return render("date_missing", next=example)
    return render(f"date_{err.kind}", text=echo(err.text), next=example)


@refusal.register
def _(err: errors.DateNotBookable) -> str:
    if err.next_open is None:
        return render("no_open_date", office_code=err.office.code)
    return render(
        f"date_{err.kind}",
        office_code=err.office.code,
        reason=err.reason,
        limit=err.limit_days,
        **_when(err.day),
        **_next(err.next_open),
    )


@refusal.register
def _(err: errors.UnknownWord) -> str:
    return _word_not_understood("unknown_word", err.word, err.office)


@refusal.register
def _(err: errors.UnknownSession) -> str:
    return _word_not_understood("unknown_session", err.name, err.office)


def _word_not_understood(key: str, word: str, office: OfficeSpec) -> str:
    """A DAFTAR word that is neither a date, an office nor a session: list the sessions."""
    return render(
        key,
        word=echo(word),
        office_code=office.code,
        sessions=_sessions(office),
        session=office.sessions[0].name,
    )


@refusal.register
def _(err: errors.SessionFull) -> str:
    if err.session is not None and err.other_session is not None:
        return render(
            "session_full_try_other",
            session=err.session.name,
            alt=err.other_session.name,
            **_when(err.day),
        )
    if err.next_day is not None:
        return render(
            "day_full_try_next",
            office_code=err.office.code,
            **_when(err.day),
            **_next(err.next_day),
        )
    return render("all_full", office_code=err.office.code, **_when(err.day))


@refusal.register
def _(err: errors.PhoneHasBooking) -> str:
    return render("phone_taken", queue=err.booking.queue_number, **_when(err.booking.booking_date))


@refusal.register
def _(err: errors.Blocked) -> str:
    return render(f"blocked_{err.kind}", until=format_date(err.until), why=_why(err.reason))


def _why(reason: str) -> str:
    """Return ' (reason)' for a reply, short, or nothing."""
    return f" ({echo(reason, MAX_REASON_SHOWN)})" if reason else ""


@refusal.register
def _(err: errors.NikHasBooking) -> str:
    return render("nik_taken")


@refusal.register
def _(err: errors.NoActiveBooking) -> str:
    return render("no_booking_to_cancel" if err.for_cancel else "no_booking")


@refusal.register
def _(err: errors.StaffRefusal) -> str:
    fields: dict[str, object] = {}
    for name, value in err.fields.items():
        if isinstance(value, date):
            fields.update(_when(value))  # wd, date
        elif name in ("code", "ref", "text"):  # what the staff typed
            fields[name] = echo(str(value))
        else:
            fields[name] = value
    return render(err.key, **fields)


@refusal.register
def _(err: errors.WrongPin) -> str:
    if err.tries_left <= 0:
        raise AssertionError("a fifth wrong PIN is reported as StaffLocked")
    return render("staff_wrong_pin", tries=err.tries_left, usage=err.usage)


@refusal.register
def _(err: errors.StaffLocked) -> str:
    return render("staff_locked", time=f"{err.until:%H:%M}")


@refusal.register
def _(err: errors.WrongRole) -> str:
    return render("staff_wrong_role", keyword=err.keyword)


@refusal.register
def _(err: errors.StaffUsage) -> str:
    return render(
        "staff_usage", usage=err.usage, problem=f" ({err.problem})" if err.problem else ""
    )


@refusal.register
def _(err: errors.Penalized) -> str:
    return render(
        "penalized",
        no_shows=err.no_shows,
        window_days=err.window_days,
        until=format_date(err.until),
    )


@refusal.register
def _(err: errors.TooManyNiks) -> str:
    return render("too_many_niks", limit=err.limit)


@refusal.register
def _(err: errors.AlreadyWaiting) -> str:
    return _already("already_waiting", err.entry, same_phone=err.same_phone)


def _already(key: str, entry: WaitlistEntry | LotteryEntry, *, same_phone: bool) -> str:
    """The NIK (or this phone) already has a place in line or an entry in the draw."""
    if not same_phone:
        return render(f"{key}_nik")
    return render(f"{key}_phone", office_code=entry.office_code, **_when(entry.day))


@refusal.register
def _(err: errors.CannotMove) -> str:
    booking = err.booking
    return render(
        f"move_{err.reason}",
        queue=booking.queue_number,
        limit=err.limit,
        session=booking.session_name,
        **_when(booking.booking_date),
    )


@refusal.register
def _(err: errors.NotWaitlistable) -> str:
    return render("not_waitlistable", office_code=err.office.code, **_when(err.day))


@refusal.register
def _(err: errors.WrongBookingCode) -> str:
    return render("wrong_code", given=echo(err.given), queue=err.booking.queue_number)


# -- lottery allocation --------------------------------------------------------------------


def _draw(office: OfficeSpec, closes: datetime) -> dict[str, str]:
    local = closes.astimezone(office.timezone)
    return {
        "draw_wd": weekday_short(local.date()),
        "draw_date": format_date(local.date()),
        "time": f"{local:%H:%M}",
    }


def _part(entry: LotteryEntry) -> str:
    return f" sesi {entry.session_name}" if entry.session_name else ""


def lottery_entered(
    entry: LotteryEntry, office: OfficeSpec, closes: datetime, *, again: bool = False
) -> str:
    """Tell an applicant they are in the draw, and when it is drawn."""
    return render(
        "lottery_again" if again else "lottery_entered",
        office_code=office.code,
        session_part=_part(entry),
        **_when(entry.day),
        **_draw(office, closes),
    )


def lottery_left(entry: LotteryEntry) -> str:
    """Confirm a withdrawal from the draw (BATAL)."""
    return render("lottery_left", office_code=entry.office_code, **_when(entry.day))


def lottery_won(booking: Booking, office: OfficeSpec) -> str:
    """Tell a winner their seat, number and code."""
    return render("lottery_won", **booking_fields(booking, office))


def lottery_waitlisted(entry: LotteryEntry, position: int) -> str:
    """Tell an entrant without a seat their place on the waitlist."""
    return render(
        "lottery_waitlisted", office_code=entry.office_code, position=position, **_when(entry.day)
    )


@refusal.register
def _(err: errors.LotteryNotOpen) -> str:
    opens = err.opens.astimezone(err.office.timezone).date()
    return render(
        "lottery_not_open",
        office_code=err.office.code,
        open_date=format_date(opens),
        **_when(err.day),
    )


@refusal.register
def _(err: errors.LotteryPending) -> str:
    return render(
        "lottery_pending_booked" if err.has_booking else "lottery_pending",
        office_code=err.office.code,
        **_when(err.day),
        **_draw(err.office, err.closes),
    )


@refusal.register
def _(err: errors.LotteryDrawing) -> str:
    return render("lottery_drawing", office_code=err.office.code, **_when(err.day))


@refusal.register
def _(err: errors.AlreadyEntered) -> str:
    return _already("already_entered", err.entry, same_phone=err.same_phone)


# -- a data subject's requests: PRIVASI, DATAKU, HAPUS (UU PDP No. 27/2022) ------------------
#
# DATAKU's reply is one head (the request the phone holds now, if any) and one
# tail (what is left of earlier ones, the message count, the latest block): every
# pair is a template, so each is checked like the others. PRIVASI's text is
# [privacy] notice from the config, checked when the config is loaded.

_DATAKU_HEADS = {
    "booking": "Data HP ini: antrean aktif {queue} {wd} {date} kode {code}.",
    "waiting": "Data HP ini: daftar tunggu no. {position} {office_code} {wd} {date}.",
    "entered": "Data HP ini: ikut undian {office_code} {wd} {date}.",
    "none": "Data HP ini: tidak ada antrean aktif.",
}
# booked, waiting, count: earlier bookings, waitlist places and lottery entries;
# n: messages to and from the phone still on record; until: the latest block's end.
_DATAKU_TAILS = {
    "": " Lalu: antrean {booked}, tunggu {waiting}, undian {count}. SMS {n}. Tidak diblokir. "
    "Hapus: HAPUS",
    "_blocked": " Lalu: antrean {booked}, tunggu {waiting}, undian {count}. SMS {n}. Blokir s/d "
    "{until}. Hapus: HAPUS",
}
TEMPLATES.update(
    {
        f"dataku_{head}{tail}": head_text + tail_text
        for head, head_text in _DATAKU_HEADS.items()
        for tail, tail_text in _DATAKU_TAILS.items()
    }
)
TEMPLATES.update(
    {
        # n: message texts erased; count: bookings, waitlist places, lottery entries.
        "hapus_ok": (
            "Data lama nomor ini dihapus: isi {n} SMS, dan no HP di {count} antrean/tunggu/undian"
            " diganti kode samaran. Lihat sisa: DATAKU"
        ),
        "hapus_none": (
            "Tidak ada lagi data lama nomor ini yg bisa dihapus. Lihat data: DATAKU. Info: PRIVASI"
        ),
        "hapus_booking": (
            "Nomor ini masih punya antrean aktif {queue} {wd} {date}; datanya belum bisa dihapus."
            " Kirim BATAL dulu, lalu HAPUS"
        ),
        "hapus_waiting": (
            "Nomor ini masih di daftar tunggu {office_code} {wd} {date}; datanya belum bisa "
            "dihapus. Kirim BATAL dulu, lalu HAPUS"
        ),
        "hapus_entered": (
            "Nomor ini masih ikut undian {office_code} {wd} {date}; datanya belum bisa dihapus. "
            "Kirim BATAL dulu, lalu HAPUS"
        ),
    }
)
USAGE.update(
    {
        "DATAKU": "DATAKU untuk melihat data Anda yang kami simpan",
        "HAPUS": "HAPUS untuk menghapus data lama Anda",
        "PRIVASI": "PRIVASI untuk info penyimpanan data Anda",
    }
)


def privacy_notice(notice: str) -> str:
    """Return PRIVASI's reply: the configured notice, filled in, as one GSM-7 segment."""
    text = to_gsm7(notice)
    if not fits_one_segment(text):
        # The config check makes this unreachable; keep the SMS one segment anyway.
        log.warning("[privacy] notice longer than one SMS segment; shortened")
        text = truncate_to_segment(text)
    return text


def my_data(
    *,
    past_bookings: int,
    past_waitlist: int,
    past_lottery: int,
    messages: int,
    block_until: date | None,
    booking: Booking | None = None,
    waiting: WaitlistEntry | None = None,
    position: int = 0,
    entered: LotteryEntry | None = None,
) -> str:
    """Tell a phone what the office holds about it (DATAKU): never a NIK, not even masked."""
    fields: dict[str, object] = {
        "booked": past_bookings,
        "waiting": past_waitlist,
        "count": past_lottery,
        "n": messages,
    }
    if booking is not None:
        head = "booking"
        fields.update(queue=booking.queue_number, code=booking.code, **_when(booking.booking_date))
    elif waiting is not None:
        head = "waiting"
        fields.update(position=position, office_code=waiting.office_code, **_when(waiting.day))
    elif entered is not None:
        head = "entered"
        fields.update(office_code=entered.office_code, **_when(entered.day))
    else:
        head = "none"
    if block_until is None:
        return render(f"dataku_{head}", **fields)
    return render(f"dataku_{head}_blocked", until=format_date(block_until), **fields)


def erased(messages: int, records: int) -> str:
    """Confirm an erasure (HAPUS): message texts erased, records given a pseudonym."""
    if not messages and not records:
        return render("hapus_none")
    return render("hapus_ok", n=messages, count=records)


@refusal.register
def _(err: errors.StillHolding) -> str:
    if err.booking is not None:
        return render(
            "hapus_booking", queue=err.booking.queue_number, **_when(err.booking.booking_date)
        )
    entry = err.waiting or err.entered
    assert entry is not None, "StillHolding names what the phone holds"
    key = "hapus_waiting" if err.waiting is not None else "hapus_entered"
    return render(key, office_code=entry.office_code, **_when(entry.day))
