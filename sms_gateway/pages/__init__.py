"""The public pages: the transparency report and the waiting-room display.

``GET /transparansi`` and ``/transparansi/<KODE>`` show, per office and day, the
quota and what became of the seats (see ``services/transparency.py`` for the
definitions), as server-rendered HTML without JavaScript, and as CSV and JSON.
``GET /layar/<KODE>`` is the full-screen call board for the waiting room's TV;
it polls ``/layar/<KODE>.json`` every few seconds. No page shows a phone number,
a NIK or a booking code.

``views`` holds the routes, ``params`` reads the office and date range a request
names, ``chart`` lays out the weekly SVG chart, ``export`` writes JSON and CSV.
"""

from sms_gateway.pages.views import bp, init_app

__all__ = ["bp", "init_app"]
