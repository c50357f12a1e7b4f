"""The month simulator's parts (see ``bench/simulate_month.py``).

``people``: the seeded population (applicants, ghosts, scalpers, their NIKs and
phones). ``world``: the offices, calendar and database of one run. ``texts``:
reading the gateway's SMS the way a person would. ``drive``: the run against
the real gateway. ``baseline``: the old web queue. ``outcomes``: seats and
applicants counted the same way for both. ``report``: table, CSV and chart.
"""
