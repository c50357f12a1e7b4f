"""The gateway's commands, in the order they are matched: the one route list.

A plain, ordered list rather than discovery, so a reader sees every command in
one place (RapidSMS learned to regret discovery). Staff commands come first;
each handler module declares its own ``ROUTE`` (keyword, aliases, role, usage).
"""

from __future__ import annotations

from handlers import (
    bantuan,
    batal,
    blokir,
    buka,
    cek,
    daftar,
    dataku,
    hadir,
    hapus,
    kantor,
    kuota,
    laporan,
    lepas,
    panggil,
    privasi,
    rekap,
    selesai,
    siaran,
    tunggu,
    tutup,
    ubah,
    ya,
)
from sms_gateway.application.router import Router


def default_router() -> Router:
    """Return the gateway's commands, in the order they are matched: staff first."""
    return Router([
        hadir.ROUTE, panggil.ROUTE, selesai.ROUTE, rekap.ROUTE,
        kuota.ROUTE, tutup.ROUTE, buka.ROUTE, blokir.ROUTE, lepas.ROUTE, siaran.ROUTE,
        laporan.ROUTE,
        daftar.ROUTE, tunggu.ROUTE, ubah.ROUTE, ya.ROUTE, batal.ROUTE, cek.ROUTE,
        dataku.ROUTE, hapus.ROUTE, privasi.ROUTE,
        kantor.ROUTE, bantuan.ROUTE,
    ])  # fmt: skip
