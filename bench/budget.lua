-- One fixed Twilio-shaped POST for bench/budget_app.py and bench/ceiling_app.py.
wrk.method = "POST"
wrk.body = "MessageSid=SM1&From=%2B6281200000001&To=%2B6281100000000&Body=DAFTAR+3528011505900001+28-11-2026"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Twilio-Signature"] = "not-checked"
