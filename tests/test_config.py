from __future__ import annotations

import re
import textwrap
import tomllib
from dataclasses import replace
from datetime import date, time
from importlib import resources
from pathlib import Path

import pytest

from sms_gateway.config import (
    DEFAULT_DATABASE_URL,
    MAX_OFFICE_NAME,
    ConfigError,
    OfficeSpec,
    OutboundSettings,
    Rules,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
SECRET = "0123456789abcdef0123456789abcdef"
SECRET_ENV = {"SMS_GATEWAY_NIK_SECRET": SECRET}

# A small valid config; each bad case below changes exactly one thing in it.
MINIMAL = """\
[server]
public_url = "https://sms.example.go.id/gateway/"
proxy_hops = 1

[security]
nik_secret = "file-secret-0123456789"

[booking]
min_days_ahead = 1
max_days_ahead = 30
timezone = "Asia/Jakarta"

[calendar]
national_holidays = true
cuti_bersama = false

[[offices]]
code = "PMK"
name = "Kantor Imigrasi Pamekasan"
sms_number = "+6282140000001"
open_days = ["mon", "tue", "wed", "thu", "fri"]
closed_dates = ["2026-12-31"]
sessions = [
  { name = "PAGI", start = "08:00", end = "12:00", quota = 40 },
  { name = "SIANG", start = "13:00", end = "15:00", quota = 20 },
]
"""

SECOND_OFFICE = """
[[offices]]
code = "{code}"
name = "Kantor Imigrasi Malang"
sms_number = "{sms_number}"
sessions = [{{ name = "PAGI", start = "08:00", end = "12:00", quota = 60 }}]
"""


def variant(old: str, new: str) -> str:
    """Return MINIMAL with ``old`` replaced by ``new`` (``old`` must be there)."""
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new, 1)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def office_fields(office: OfficeSpec) -> tuple[object, ...]:
    return (
        office.code,
        office.name,
        office.sms_number,
        office.open_days,
        dict(office.closed_dates),
        office.sessions,
        office.timezone.key,
    )


# --- built-in defaults and the example file -----------------------------------


def test_built_in_defaults_have_offices_pmk_and_mlg_with_sessions_pagi_and_siang() -> None:
    settings = load_settings(None, env={})
    assert settings.source is None
    assert [o.code for o in settings.offices] == ["PMK", "MLG"]
    for office in settings.offices:
        assert [s.name for s in office.sessions] == ["PAGI", "SIANG"]
        assert office.open_days == frozenset(range(5))
        assert office.timezone.key == "Asia/Jakarta"
    assert settings.office("pmk") is settings.offices[0]
    assert settings.office("XYZ") is None


def test_built_in_defaults_need_no_nik_secret_and_use_sqlite() -> None:
    settings = load_settings(None, env={})
    assert settings.nik_secret is None
    assert settings.database.url == DEFAULT_DATABASE_URL
    assert (settings.booking.min_days_ahead, settings.booking.max_days_ahead) == (1, 30)


def test_built_in_defaults_are_the_packaged_default_config_toml() -> None:
    packaged = resources.files("sms_gateway").joinpath("default_config.toml")
    assert packaged.is_file()
    settings = load_settings(None, env={})
    from_file = load_settings(Path(str(packaged)), env=SECRET_ENV)
    assert [office_fields(o) for o in from_file.offices] == [
        office_fields(o) for o in settings.offices
    ]


def test_built_in_pmk_sessions_have_their_windows_and_quotas() -> None:
    pmk = load_settings(None, env={}).office("PMK")
    assert pmk is not None
    assert [(s.name, s.window, s.quota) for s in pmk.sessions] == [
        ("PAGI", "08:00-12:00", 40),
        ("SIANG", "13:00-15:00", 20),
    ]
    assert pmk.session("siang") is pmk.sessions[1]
    assert pmk.session("MALAM") is None
    assert pmk.closed_dates == {date(2026, 12, 31): "tutup akhir tahun"}


def test_example_config_loads_with_the_nik_secret_from_env() -> None:
    settings = load_settings(EXAMPLE, env=SECRET_ENV)
    assert settings.source == EXAMPLE
    assert settings.nik_secret == SECRET
    assert settings.database.url == "sqlite:///sms-gateway.db"
    # Empty strings in the example mean "not set".
    assert settings.twilio.auth_token is None
    assert settings.server.public_url is None


def test_example_config_offices_equal_the_built_in_defaults() -> None:
    example = load_settings(EXAMPLE, env=SECRET_ENV)
    defaults = load_settings(None, env={})
    assert [office_fields(o) for o in example.offices] == [
        office_fields(o) for o in defaults.offices
    ]


def test_example_config_shows_every_built_in_default() -> None:
    """The example restates the defaults declared in config/settings.py: they must agree."""
    example = load_settings(EXAMPLE, env=SECRET_ENV)
    built_in = load_settings(None, env=SECRET_ENV)
    # The one deliberate difference: the example's Kannel reaches the gateway where
    # deploy/ runs it (gunicorn on 8000), the default where `serve` does (5000).
    assert example.kannel.dlr_url == "http://127.0.0.1:8000/sms/kannel/dlr"
    assert built_in.kannel.dlr_url == "http://127.0.0.1:5000/sms/kannel/dlr"
    kannel = replace(example.kannel, dlr_url=built_in.kannel.dlr_url)
    assert replace(example, kannel=kannel, source=None) == built_in


def test_packaged_default_config_holds_only_the_offices() -> None:
    """Every other default is declared once, in config/settings.py, not restated here."""
    packaged = resources.files("sms_gateway").joinpath("default_config.toml")
    assert set(tomllib.loads(packaged.read_text("utf-8"))) == {"offices"}


def test_sections_left_out_take_the_declared_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), env={})
    assert settings.outbound == OutboundSettings()
    assert settings.rules == Rules()
    assert all(o.rules == Rules() and o.allocation == "first_come" for o in settings.offices)


def test_example_config_without_a_nik_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="nik_secret") as exc_info:
        load_settings(EXAMPLE, env={})
    assert str(EXAMPLE) in str(exc_info.value)


def test_config_file_without_nik_secret_is_refused_naming_key_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, variant('nik_secret = "file-secret-0123456789"\n', ""))
    with pytest.raises(ConfigError) as exc_info:
        load_settings(path, env={})
    message = str(exc_info.value)
    assert "[security] nik_secret" in message
    assert "SMS_GATEWAY_NIK_SECRET" in message
    assert str(path) in message


def test_missing_config_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="not found") as exc_info:
        load_settings(path, env={})
    assert str(path) in str(exc_info.value)


# --- a valid file, read into typed settings --------------------------------------


def test_minimal_config_is_read_into_typed_settings(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    settings = load_settings(path, env={})
    assert isinstance(settings, Settings)
    assert settings.source == path
    assert settings.nik_secret == "file-secret-0123456789"
    assert settings.server.public_url == "https://sms.example.go.id/gateway"
    assert settings.server.proxy_hops == 1
    assert settings.calendar.national_holidays is True
    assert settings.calendar.cuti_bersama is False
    (office,) = settings.offices
    assert office.sms_number == "+6282140000001"
    assert office.closed_dates == {date(2026, 12, 31): ""}


@pytest.mark.parametrize(
    ("closed_dates", "expected"),
    [
        pytest.param("[2026-12-31]", {date(2026, 12, 31): ""}, id="native-toml-date"),
        pytest.param('["2026-12-31"]', {date(2026, 12, 31): ""}, id="string"),
        pytest.param('[" 2026-12-31 "]', {date(2026, 12, 31): ""}, id="string-with-spaces"),
        pytest.param(
            '[{ date = 2026-12-31, reason = "tutup akhir tahun" }]',
            {date(2026, 12, 31): "tutup akhir tahun"},
            id="table-with-native-date-and-reason",
        ),
        pytest.param(
            '[{ date = "2026-08-18", reason = "  cuti kantor  " }]',
            {date(2026, 8, 18): "cuti kantor"},
            id="table-with-string-date-and-reason",
        ),
        pytest.param(
            '[{ date = 2026-12-31 }, "2027-01-02"]',
            {date(2026, 12, 31): "", date(2027, 1, 2): ""},
            id="table-without-reason-and-string",
        ),
        pytest.param("[]", {}, id="empty-list"),
    ],
)
def test_closed_dates_are_accepted_as_dates_strings_or_tables(
    tmp_path: Path, closed_dates: str, expected: dict[date, str]
) -> None:
    path = write(
        tmp_path, variant('closed_dates = ["2026-12-31"]', f"closed_dates = {closed_dates}")
    )
    (office,) = load_settings(path, env={}).offices
    assert dict(office.closed_dates) == expected


@pytest.mark.parametrize(
    "start",
    [
        pytest.param('"08:00"', id="hh-colon-mm"),
        pytest.param('"8:00"', id="h-colon-mm"),
        pytest.param('"8.00"', id="h-dot-mm"),
        pytest.param("08:00:00", id="native-toml-time"),
        pytest.param("08:00:30", id="native-toml-time-seconds-dropped"),
    ],
)
def test_session_start_is_accepted_in_common_time_forms(tmp_path: Path, start: str) -> None:
    path = write(tmp_path, variant('start = "08:00"', f"start = {start}"))
    (office,) = load_settings(path, env={}).offices
    assert office.sessions[0].start == time(8, 0)


def test_sessions_are_sorted_by_start_time(tmp_path: Path) -> None:
    text = variant(
        '  { name = "PAGI", start = "08:00", end = "12:00", quota = 40 },\n'
        '  { name = "SIANG", start = "13:00", end = "15:00", quota = 20 },\n',
        '  { name = "SIANG", start = "13:00", end = "15:00", quota = 20 },\n'
        '  { name = "PAGI", start = "08:00", end = "12:00", quota = 40 },\n',
    )
    (office,) = load_settings(write(tmp_path, text), env={}).offices
    assert [s.name for s in office.sessions] == ["PAGI", "SIANG"]


def test_back_to_back_sessions_do_not_overlap(tmp_path: Path) -> None:
    path = write(tmp_path, variant('start = "13:00"', 'start = "12:00"'))
    (office,) = load_settings(path, env={}).offices
    assert [s.window for s in office.sessions] == ["08:00-12:00", "12:00-15:00"]


def test_lower_case_office_code_and_session_name_are_upper_cased(tmp_path: Path) -> None:
    text = variant('code = "PMK"', 'code = "pmk2"').replace('"PAGI"', '"pagi"')
    (office,) = load_settings(write(tmp_path, text), env={}).offices
    assert office.code == "PMK2"
    assert office.sessions[0].name == "PAGI"


@pytest.mark.parametrize(
    ("sms_number", "expected"),
    [
        pytest.param("082140000001", "+6282140000001", id="national-mobile"),
        pytest.param("6282140000001", "+6282140000001", id="mobile-without-plus"),
        pytest.param("1234", "1234", id="operator-short-code"),
    ],
)
def test_office_sms_number_is_normalised(tmp_path: Path, sms_number: str, expected: str) -> None:
    path = write(tmp_path, variant('"+6282140000001"', f'"{sms_number}"'))
    (office,) = load_settings(path, env={}).offices
    assert office.sms_number == expected


def test_open_days_accept_short_and_long_names_in_any_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        variant('["mon", "tue", "wed", "thu", "fri"]', '["Mon", "SATURDAY", " sun "]'),
    )
    (office,) = load_settings(path, env={}).offices
    assert office.open_days == frozenset({0, 5, 6})


def test_office_name_of_the_maximum_length_is_accepted(tmp_path: Path) -> None:
    name = "K" * MAX_OFFICE_NAME
    path = write(tmp_path, variant('name = "Kantor Imigrasi Pamekasan"', f'name = "{name}"'))
    assert load_settings(path, env={}).offices[0].name == name


def test_office_time_zone_overrides_the_booking_time_zone(tmp_path: Path) -> None:
    text = variant('code = "PMK"', 'code = "PMK"\ntimezone = "Asia/Makassar"')
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.booking.timezone.key == "Asia/Jakarta"
    assert settings.offices[0].timezone.key == "Asia/Makassar"


# --- environment overrides ---------------------------------------------------------


def test_env_sms_gateway_config_points_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, variant('code = "PMK"', 'code = "ENV"'))
    settings = load_settings(None, env={"SMS_GATEWAY_CONFIG": str(path)})
    assert settings.source == path
    assert [o.code for o in settings.offices] == ["ENV"]


def test_explicit_path_wins_over_env_sms_gateway_config(tmp_path: Path) -> None:
    chosen = write(tmp_path, MINIMAL, "chosen.toml")
    settings = load_settings(chosen, env={"SMS_GATEWAY_CONFIG": str(tmp_path / "missing.toml")})
    assert settings.source == chosen


def test_empty_env_sms_gateway_config_means_built_in_defaults() -> None:
    assert load_settings(None, env={"SMS_GATEWAY_CONFIG": ""}).source is None


@pytest.mark.parametrize(
    ("env_url", "expected"),
    [
        pytest.param("sqlite:///other.db", "sqlite:///other.db", id="sqlite"),
        pytest.param(
            "postgresql://gw:pw@db:5432/gw",
            "postgresql+psycopg://gw:pw@db:5432/gw",
            id="postgresql-rewritten-to-psycopg",
        ),
        pytest.param(
            "postgresql+psycopg://gw@db/gw",
            "postgresql+psycopg://gw@db/gw",
            id="postgresql-psycopg-kept",
        ),
    ],
)
def test_env_database_url_sets_the_database(tmp_path: Path, env_url: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL)  # no [database] url in the file
    settings = load_settings(path, env={"SMS_GATEWAY_DATABASE_URL": env_url})
    assert settings.database.url == expected


def test_file_postgresql_url_is_rewritten_to_psycopg(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[database]\nurl = "postgresql://gw@db/gw"\n')
    assert load_settings(path, env={}).database.url == "postgresql+psycopg://gw@db/gw"


def test_env_database_url_applies_to_the_built_in_defaults() -> None:
    settings = load_settings(None, env={"SMS_GATEWAY_DATABASE_URL": "postgresql://db/gw"})
    assert settings.database.url == "postgresql+psycopg://db/gw"


def test_env_twilio_credentials_are_used(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[twilio]\nnumber = "+15005550006"\n')
    env = {"TWILIO_AUTH_TOKEN": "token-from-env", "TWILIO_ACCOUNT_SID": "AC123"}
    twilio = load_settings(path, env=env).twilio
    assert (twilio.account_sid, twilio.auth_token, twilio.number) == (
        "AC123",
        "token-from-env",
        "+15005550006",
    )


def test_env_nik_secret_is_used_when_the_file_has_none(tmp_path: Path) -> None:
    path = write(tmp_path, variant('nik_secret = "file-secret-0123456789"\n', ""))
    assert load_settings(path, env=SECRET_ENV).nik_secret == SECRET


def test_env_nik_secret_applies_to_the_built_in_defaults() -> None:
    assert load_settings(None, env=SECRET_ENV).nik_secret == SECRET


def test_env_nik_secret_that_is_too_short_is_refused() -> None:
    with pytest.raises(ConfigError, match="nik_secret must be at least 16"):
        load_settings(None, env={"SMS_GATEWAY_NIK_SECRET": "short"})


@pytest.mark.parametrize(
    ("config", "env", "attribute", "expected"),
    [
        pytest.param(
            "example",
            {"SMS_GATEWAY_DATABASE_URL": "sqlite:///env.db"},
            ("database", "url"),
            "sqlite:///env.db",
            id="database-url-over-example-file",
        ),
        pytest.param(
            "example",
            {"TWILIO_AUTH_TOKEN": "token-from-env"},
            ("twilio", "auth_token"),
            "token-from-env",
            id="twilio-auth-token-over-example-file",
        ),
        pytest.param(
            "example",
            {"TWILIO_ACCOUNT_SID": "AC123"},
            ("twilio", "account_sid"),
            "AC123",
            id="twilio-account-sid-over-example-file",
        ),
        pytest.param("minimal", {}, ("nik_secret",), SECRET, id="nik-secret-over-file-secret"),
    ],
)
def test_env_overrides_a_key_that_is_also_in_the_file(
    tmp_path: Path,
    config: str,
    env: dict[str, str],
    attribute: tuple[str, ...],
    expected: str,
) -> None:
    path = EXAMPLE if config == "example" else write(tmp_path, MINIMAL)
    settings: object = load_settings(path, env={**SECRET_ENV, **env})
    for name in attribute:
        settings = getattr(settings, name)
    assert settings == expected


# --- bad configs: each names the file and the key -----------------------------------

PAGI = '{ name = "PAGI", start = "08:00", end = "12:00", quota = 40 }'
SESSIONS = (
    "sessions = [\n"
    f"  {PAGI},\n"
    '  { name = "SIANG", start = "13:00", end = "15:00", quota = 20 },\n'
    "]\n"
)
assert SESSIONS in MINIMAL


def with_sessions(*entries: str) -> str:
    return variant(SESSIONS, "sessions = [" + ", ".join(entries) + "]\n")


def with_pagi(**changes: str) -> str:
    """Return MINIMAL with PAGI's fields changed (a value of "" drops the field)."""
    fields = {"name": '"PAGI"', "start": '"08:00"', "end": '"12:00"', "quota": "40", **changes}
    entry = "{ " + ", ".join(f"{k} = {v}" for k, v in fields.items() if v) + " }"
    return variant(PAGI, entry)


BAD_CONFIGS = [
    # TOML and sections
    pytest.param(variant('code = "PMK"', 'code = "PMK'), ["not valid TOML"], id="invalid-toml"),
    pytest.param(
        variant("[booking]", "[boking]"),
        ["unknown section [boking]", "did you mean [booking]?"],
        id="misspelt-section-with-hint",
    ),
    pytest.param(
        MINIMAL + "\n[extras]\nx = 1\n", ["unknown section [extras]"], id="unknown-section"
    ),
    pytest.param(
        variant("max_days_ahead = 30", "max_day_ahead = 30"),
        ["unknown key [booking] max_day_ahead", "did you mean max_days_ahead?"],
        id="misspelt-key-with-hint",
    ),
    pytest.param(
        variant('code = "PMK"', 'code = "PMK"\nkota = "Pamekasan"'),
        ["unknown key [[offices]] PMK kota"],
        id="unknown-office-key",
    ),
    pytest.param(
        with_pagi(kuota="40"),
        ["unknown key [[offices]] PMK session PAGI kuota", "did you mean quota?"],
        id="unknown-session-key",
    ),
    # [booking] and [calendar]
    pytest.param(
        variant("min_days_ahead = 1", 'min_days_ahead = "1"'),
        ["[booking] min_days_ahead", "whole number"],
        id="min-days-ahead-string",
    ),
    pytest.param(
        variant("min_days_ahead = 1", "min_days_ahead = true"),
        ["[booking] min_days_ahead", "whole number"],
        id="min-days-ahead-bool",
    ),
    pytest.param(
        variant("max_days_ahead = 30", "max_days_ahead = -1"),
        ["[booking] max_days_ahead", "-1"],
        id="max-days-ahead-negative",
    ),
    pytest.param(
        variant("max_days_ahead = 30", "max_days_ahead = 400"),
        ["[booking] max_days_ahead", "400"],
        id="max-days-ahead-too-large",
    ),
    pytest.param(
        variant(
            "min_days_ahead = 1\nmax_days_ahead = 30", "min_days_ahead = 10\nmax_days_ahead = 5"
        ),
        ["[booking] max_days_ahead (5)", "min_days_ahead (10)"],
        id="max-days-ahead-below-min",
    ),
    pytest.param(
        variant("national_holidays = true", 'national_holidays = "yes"'),
        ["[calendar] national_holidays", "true or false"],
        id="national-holidays-string",
    ),
    pytest.param(
        variant('timezone = "Asia/Jakarta"', 'timezone = "Asia/Jakrta"'),
        ["[booking] timezone", "'Asia/Jakrta'", "not a known time zone"],
        id="booking-timezone-unknown",
    ),
    pytest.param(
        variant('code = "PMK"', 'code = "PMK"\ntimezone = "Mars/Olympus"'),
        ["[[offices]] PMK timezone", "'Mars/Olympus'"],
        id="office-timezone-unknown",
    ),
    # [database], [server], [security]
    pytest.param(
        MINIMAL + '\n[database]\nurl = "mysql://gw@db/gw"\n',
        ["[database] url", "'mysql'"],
        id="database-url-mysql",
    ),
    pytest.param(
        MINIMAL + "\n[database]\nurl = 5\n",
        ["[database] url", "must be a string"],
        id="database-url-not-a-string",
    ),
    pytest.param(
        variant('"https://sms.example.go.id/gateway/"', '"ftp://sms.example.go.id"'),
        ["[server] public_url"],
        id="public-url-ftp",
    ),
    pytest.param(
        variant('"https://sms.example.go.id/gateway/"', '"sms.example.go.id"'),
        ["[server] public_url"],
        id="public-url-without-scheme",
    ),
    pytest.param(
        variant("proxy_hops = 1", "proxy_hops = 9"),
        ["[server] proxy_hops", "9"],
        id="proxy-hops-too-many",
    ),
    pytest.param(
        variant('"file-secret-0123456789"', '"too-short"'),
        ["[security] nik_secret", "at least 16"],
        id="nik-secret-too-short",
    ),
    # offices
    pytest.param(MINIMAL.split("[[offices]]")[0], ["at least one [[offices]]"], id="no-offices"),
    pytest.param(
        variant('code = "PMK"', 'code = "p"'), ["[[offices]] #1 code", "'P'"], id="code-p"
    ),
    pytest.param(
        variant('code = "PMK"', 'code = "TOOLONG"'),
        ["[[offices]] #1 code", "'TOOLONG'"],
        id="code-too-long",
    ),
    pytest.param(
        variant('code = "PMK"', 'code = "1AB"'),
        ["[[offices]] #1 code", "'1AB'"],
        id="code-starts-with-digit",
    ),
    pytest.param(
        variant('code = "PMK"', 'code = "P-K"'),
        ["[[offices]] #1 code", "'P-K'"],
        id="code-with-dash",
    ),
    pytest.param(variant('code = "PMK"\n', ""), ["[[offices]] #1 code", "''"], id="code-missing"),
    pytest.param(
        MINIMAL + SECOND_OFFICE.format(code="PMK", sms_number="+6281330000002"),
        ["office code PMK is used twice"],
        id="duplicate-office-code",
    ),
    pytest.param(
        MINIMAL + SECOND_OFFICE.format(code="pmk", sms_number="+6281330000002"),
        ["office code PMK is used twice"],
        id="duplicate-office-code-in-other-case",
    ),
    pytest.param(
        MINIMAL + SECOND_OFFICE.format(code="MLG", sms_number="082140000001"),
        ["sms_number +6282140000001 is used by two offices"],
        id="duplicate-sms-number-after-normalising",
    ),
    pytest.param(
        variant('name = "Kantor Imigrasi Pamekasan"', f'name = "{"K" * (MAX_OFFICE_NAME + 1)}"'),
        ["[[offices]] PMK name", f"at most {MAX_OFFICE_NAME} characters"],
        id="name-one-character-too-long",
    ),
    pytest.param(
        variant('name = "Kantor Imigrasi Pamekasan"\n', ""),
        ["[[offices]] PMK name", "is required"],
        id="name-missing",
    ),
    pytest.param(
        variant('"Kantor Imigrasi Pamekasan"', '"Kantor Imigrasi \U0001f1ee\U0001f1e9"'),
        ["[[offices]] PMK name", "characters an SMS cannot carry"],
        id="name-with-emoji",
    ),
    pytest.param(
        variant('"Kantor Imigrasi Pamekasan"', '"Kantor Imigrasi \u2019Pamekasan\u2019"'),
        ["[[offices]] PMK name", "characters an SMS cannot carry"],
        id="name-with-curly-quote",
    ),
    pytest.param(
        variant('sms_number = "+6282140000001"', 'sms_number = "abc"'),
        ["[[offices]] PMK sms_number", "not a phone number"],
        id="sms-number-letters",
    ),
    pytest.param(
        variant('sms_number = "+6282140000001"', 'sms_number = "12"'),
        ["[[offices]] PMK sms_number"],
        id="sms-number-too-short",
    ),
    pytest.param(
        variant('sms_number = "+6282140000001"', "sms_number = 6282140000001"),
        ["[[offices]] PMK sms_number", "must be a string"],
        id="sms-number-not-a-string",
    ),
    # open_days
    pytest.param(
        variant('"fri"]', '"funday"]'),
        ["[[offices]] PMK open_days", "'funday'"],
        id="open-days-unknown-day",
    ),
    pytest.param(
        variant('["mon", "tue", "wed", "thu", "fri"]', "[]"),
        ["[[offices]] PMK open_days", "must be a list"],
        id="open-days-empty",
    ),
    pytest.param(
        variant('["mon", "tue", "wed", "thu", "fri"]', '"mon"'),
        ["[[offices]] PMK open_days", "must be a list"],
        id="open-days-not-a-list",
    ),
    pytest.param(
        variant('["mon", "tue", "wed", "thu", "fri"]', "[1, 2]"),
        ["[[offices]] PMK open_days", "has 1"],
        id="open-days-numbers",
    ),
    # closed_dates
    pytest.param(
        variant('["2026-12-31"]', '["2026-13-01"]'),
        ["[[offices]] PMK closed_dates", "'2026-13-01'", "YYYY-MM-DD"],
        id="closed-date-month-13",
    ),
    pytest.param(
        variant('["2026-12-31"]', '["31/12/2026"]'),
        ["[[offices]] PMK closed_dates", "'31/12/2026'"],
        id="closed-date-day-first",
    ),
    pytest.param(
        variant('["2026-12-31"]', "[20261231]"),
        ["[[offices]] PMK closed_dates", "20261231"],
        id="closed-date-number",
    ),
    pytest.param(
        variant('["2026-12-31"]', "[2026-12-31T10:00:00]"),
        ["[[offices]] PMK closed_dates", "YYYY-MM-DD"],
        id="closed-date-datetime",
    ),
    pytest.param(
        variant('["2026-12-31"]', '[{ date = 2026-12-31, alasan = "libur" }]'),
        ["[[offices]] PMK closed_dates", "unknown key 'alasan'"],
        id="closed-date-table-unknown-key",
    ),
    pytest.param(
        variant('["2026-12-31"]', '[{ reason = "libur" }]'),
        ["[[offices]] PMK closed_dates", "None"],
        id="closed-date-table-without-date",
    ),
    pytest.param(
        variant('["2026-12-31"]', '[{ date = 2026-12-31, reason = "libur \u2013 tutup" }]'),
        ["[[offices]] PMK closed_dates reason"],
        id="closed-date-reason-not-gsm7",
    ),
    pytest.param(
        variant('["2026-12-31"]', '"2026-12-31"'),
        ["[[offices]] PMK closed_dates"],
        id="closed-dates-a-string-not-a-list",
    ),
    # sessions
    pytest.param(variant(SESSIONS, ""), ["[[offices]] PMK sessions"], id="sessions-missing"),
    pytest.param(with_sessions(), ["[[offices]] PMK sessions"], id="sessions-empty"),
    pytest.param(
        variant(SESSIONS, f"sessions = {PAGI}\n"),
        ["[[offices]] PMK sessions", "must list"],
        id="sessions-a-table-not-a-list",
    ),
    pytest.param(
        with_pagi(name='"1PAGI"'),
        ["[[offices]] PMK sessions entry name", "'1PAGI'"],
        id="session-name-starts-with-digit",
    ),
    pytest.param(
        with_pagi(name='"PAGIHARI1"'),
        ["[[offices]] PMK sessions entry name", "'PAGIHARI1'"],
        id="session-name-9-characters",
    ),
    pytest.param(
        with_pagi(name='"PA GI"'),
        ["[[offices]] PMK sessions entry name", "'PA GI'"],
        id="session-name-with-space",
    ),
    pytest.param(
        with_pagi(name=""),
        ["[[offices]] PMK sessions entry name", "''"],
        id="session-name-missing",
    ),
    pytest.param(
        with_pagi(start='"12:00"', end='"08:00"'),
        ["[[offices]] PMK session PAGI end", "must be after start (12:00)"],
        id="session-end-before-start",
    ),
    pytest.param(
        with_pagi(end='"08:00"'),
        ["[[offices]] PMK session PAGI end", "must be after start (08:00)"],
        id="session-end-equals-start",
    ),
    pytest.param(
        with_pagi(start='"8am"'),
        ["[[offices]] PMK session PAGI start", "'8am'"],
        id="session-start-8am",
    ),
    pytest.param(
        with_pagi(end='"24:00"'),
        ["[[offices]] PMK session PAGI end", "'24:00'"],
        id="session-end-24-00",
    ),
    pytest.param(
        with_pagi(start='"08:60"'),
        ["[[offices]] PMK session PAGI start", "'08:60'"],
        id="session-start-minute-60",
    ),
    pytest.param(
        with_pagi(start="800"),
        ["[[offices]] PMK session PAGI start", "800"],
        id="session-start-number",
    ),
    pytest.param(
        with_pagi(start=""),
        ["[[offices]] PMK session PAGI start", "None"],
        id="session-start-missing",
    ),
    pytest.param(
        variant('start = "13:00"', 'start = "11:00"'),
        ["[[offices]] PMK sessions", "PAGI and SIANG overlap"],
        id="sessions-overlap",
    ),
    pytest.param(
        variant('name = "SIANG"', 'name = "pagi"'),
        ["[[offices]] PMK sessions", "repeated session name"],
        id="session-name-repeated",
    ),
    pytest.param(
        with_pagi(quota=""),
        ["[[offices]] PMK session PAGI quota", "is required"],
        id="session-quota-missing",
    ),
    pytest.param(
        with_pagi(quota="-1"),
        ["[[offices]] PMK session PAGI quota", "-1"],
        id="session-quota-negative",
    ),
    pytest.param(
        with_pagi(quota="10000"),
        ["[[offices]] PMK session PAGI quota", "10000"],
        id="session-quota-too-large",
    ),
    pytest.param(
        with_pagi(quota='"40"'),
        ["[[offices]] PMK session PAGI quota", "whole number"],
        id="session-quota-string",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BAD_CONFIGS)
def test_bad_config_is_refused_naming_file_and_key(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc_info:
        load_settings(path, env={})
    message = str(exc_info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("section", "message"),
    [
        pytest.param(
            '[outbound]\nsender = "SMTP"',
            "[outbound] sender must be one of console, twilio, kannel, gammu (got 'smtp')",
            id="sender",
        ),
        pytest.param(
            '[logging]\nformat = "XML"',
            """[logging] format must be "text" or "json" (got 'xml')""",
            id="log-format",
        ),
        pytest.param(
            '[logging]\nlevel = "verbose"',
            "[logging] level must be one of DEBUG, INFO, WARNING, ERROR (got 'VERBOSE')",
            id="log-level",
        ),
        pytest.param(
            '[lottery]\nallocation = "Lottery"',
            """[lottery] allocation must be "first_come" or "lottery" (got 'Lottery')""",
            id="allocation-is-case-sensitive",
        ),
        pytest.param(
            '[kannel]\nsecret = "too-short"',
            "[kannel] secret must be at least 16 characters (it is the only thing that "
            "authenticates Kannel)",
            id="kannel-secret",
        ),
        pytest.param(
            '[twilio]\nstatus_callback = "ftp://x"',
            "[twilio] status_callback must be an http(s) URL (got 'ftp://x')",
            id="status-callback",
        ),
        pytest.param(
            '[twilio]\nnumber = "abc"',
            "[twilio] number is not a phone number ('abc')",
            id="twilio-number",
        ),
    ],
)
def test_closed_sets_and_checked_strings_are_refused_word_for_word(
    tmp_path: Path, section: str, message: str
) -> None:
    path = write(tmp_path, MINIMAL + "\n" + section + "\n")
    with pytest.raises(ConfigError) as exc_info:
        load_settings(path, env={})
    assert str(exc_info.value) == f"{path}: {message}"


def test_closed_sets_are_read_in_any_case_where_they_always_were(tmp_path: Path) -> None:
    extra = '[outbound]\nsender = " Kannel "\n[logging]\nformat = "JSON"\nlevel = "debug"\n'
    settings = load_settings(write(tmp_path, MINIMAL + extra), env={})
    assert (settings.outbound.sender, settings.logging.format) == ("kannel", "json")
    assert settings.logging.level == 10


@pytest.mark.parametrize(
    "value",
    [pytest.param("20261231", id="number"), pytest.param("true", id="true")],
)
def test_closed_dates_that_is_not_a_list_is_a_config_error(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, variant('closed_dates = ["2026-12-31"]', f"closed_dates = {value}"))
    with pytest.raises(ConfigError, match="closed_dates"):
        load_settings(path, env={})


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("Pamekasan", "Pamekas\xe1n").encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read config file") as exc_info:
        load_settings(path, env={})
    assert str(path) in str(exc_info.value)


def test_fairness_rules_are_global_with_per_office_overrides(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        textwrap.dedent("""
        [security]
        nik_secret = "0123456789abcdef0123"
        [booking]
        require_confirmation = true
        confirm_deadline = "20:30"
        [reminders]
        send_at = "15:00"
        [penalty]
        max_no_shows = 3
        [limits]
        niks_per_phone = 2
        [[offices]]
        code = "PMK"
        name = "Kantor Imigrasi Pamekasan"
        sessions = [{ name = "PAGI", start = "08:00", end = "12:00", quota = 5 }]
        [[offices]]
        code = "MLG"
        name = "Kantor Imigrasi Malang"
        booking = { require_confirmation = false, max_reschedules = 0 }
        limits = { messages_per_hour = 5 }
        sessions = [{ name = "PAGI", start = "08:00", end = "12:00", quota = 5 }]
    """)
    )
    settings = load_settings(path, env={})
    pmk, mlg = settings.offices
    assert (pmk.rules.require_confirmation, pmk.rules.confirm_deadline) == (True, time(20, 30))
    assert (pmk.rules.reminder_at, pmk.rules.max_no_shows, pmk.rules.niks_per_phone) == (
        time(15, 0),
        3,
        2,
    )
    assert (mlg.rules.require_confirmation, mlg.rules.max_reschedules) == (False, 0)
    assert (mlg.rules.messages_per_hour, mlg.rules.niks_per_phone) == (5, 2)


@pytest.mark.parametrize(
    ("extra", "office_extra", "words"),
    [
        (
            '[booking]\nrequire_confirmation = true\nconfirm_deadline = "15:00"\n',
            "",
            "must be after the reminder time",
        ),
        ("[limits]\nmessages_per_hour = 0\n", "", "[limits] messages_per_hour must be"),
        ("[penalty]\nban_day = 3\n", "", "did you mean ban_days"),
        ("", "limits = { nik_per_phone = 2 }\n", "did you mean niks_per_phone"),
        ("", "booking = 3\n", "must be a table"),
    ],
)
def test_bad_fairness_rules_are_config_errors(
    tmp_path: Path, extra: str, office_extra: str, words: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[security]\nnik_secret = "0123456789abcdef0123"\n'
        + extra
        + '[[offices]]\ncode = "PMK"\nname = "Kantor"\n'
        + office_extra
        + 'sessions = [{ name = "PAGI", start = "08:00", end = "12:00", '
        "quota = 5 }]\n"
    )
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_settings(path, env={})


# --- [privacy]: retention periods and PRIVASI's notice (UU PDP No. 27/2022) ----------


def test_privacy_defaults_are_90_and_365_days_with_a_notice_that_fits_one_sms() -> None:
    from sms_gateway.config import DEFAULT_NOTICE
    from sms_gateway.gsm import fits_one_segment

    for settings in (load_settings(None, env={}), load_settings(EXAMPLE, env=SECRET_ENV)):
        privacy = settings.privacy
        assert (privacy.keep_messages_days, privacy.keep_bookings_days) == (90, 365)
        assert privacy.notice == DEFAULT_NOTICE  # the example shows the built-in text
        text = privacy.notice_for("W" * MAX_OFFICE_NAME)
        assert fits_one_segment(text), text
        assert "90 hari" in text and "365 hari" in text
        assert "DATAKU" in text and "HAPUS" in text


def test_privacy_settings_are_read_with_placeholders_filled_in(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + "\n[privacy]\nkeep_messages_days = 30\nkeep_bookings_days = 180\n"
        + 'notice = "{office}: SMS {keep_messages_days} hr, antrean {keep_bookings_days} hr. '
        + 'Lihat: DATAKU"\n',
    )
    privacy = load_settings(path, env={}).privacy
    assert (privacy.keep_messages_days, privacy.keep_bookings_days) == (30, 180)
    assert privacy.notice_for("Kantor X") == "Kantor X: SMS 30 hr, antrean 180 hr. Lihat: DATAKU"


@pytest.mark.parametrize(
    ("section", "fragments"),
    [
        pytest.param(
            "keep_messages_days = 3",
            ["[privacy] keep_messages_days", "from 7 to 3650", "3"],
            id="messages-too-short",
        ),
        pytest.param(
            'keep_bookings_days = "a year"',
            ["[privacy] keep_bookings_days", "whole number"],
            id="bookings-not-a-number",
        ),
        pytest.param(
            "keep_bookings_days = 60",
            ["[privacy] keep_bookings_days", "(60)", "[penalty] window_days (90)"],
            id="bookings-shorter-than-the-penalty-window",
        ),
        pytest.param(
            "keep_message_days = 30",
            ["unknown key [privacy] keep_message_days", "did you mean keep_messages_days?"],
            id="typo",
        ),
        pytest.param(
            'notice = "' + "Data Anda aman. " * 10 + 'DATAKU"',
            ["[privacy] notice", "166 characters", "one SMS holds 160"],
            id="notice-too-long",
        ),
        pytest.param(
            'notice = "{office} menyimpan data Anda {hari} hari. Lihat: DATAKU"',
            ["[privacy] notice", "{hari}", "{office}, {keep_messages_days}"],
            id="notice-unknown-placeholder",
        ),
        pytest.param(
            'notice = "{office menyimpan data Anda. Lihat: DATAKU"',
            ["[privacy] notice", "not a valid template"],
            id="notice-unbalanced-brace",
        ),
        pytest.param(
            'notice = "Data Anda \u2764 aman. Lihat: DATAKU"',
            ["[privacy] notice", "cannot carry cheaply"],
            id="notice-not-gsm7",
        ),
    ],
)
def test_bad_privacy_settings_are_refused_naming_file_and_key(
    tmp_path: Path, section: str, fragments: list[str]
) -> None:
    path = write(tmp_path, MINIMAL + "\n[privacy]\n" + section + "\n")
    with pytest.raises(ConfigError) as exc_info:
        load_settings(path, env={})
    message = str(exc_info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message, message


def test_a_longer_penalty_window_needs_a_longer_booking_retention(tmp_path: Path) -> None:
    text = MINIMAL.replace('code = "PMK"', 'code = "PMK"\npenalty = { window_days = 400 }')
    with pytest.raises(ConfigError, match=re.escape("[penalty] window_days (400)")):
        load_settings(write(tmp_path, text), env={})
    ok = write(tmp_path, text + "\n[privacy]\nkeep_bookings_days = 400\n", name="ok.toml")
    assert load_settings(ok, env={}).privacy.keep_bookings_days == 400
