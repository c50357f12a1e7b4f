"""Send through Kannel's ``sendsms`` HTTP interface, asking for delivery reports.

The delivery-report URL carries our message id and the shared secret, so the
report that Kannel calls back (``GET /sms/kannel/dlr``) can be matched and
trusted. REFERENCE.md 2.4-2.5 lists the answers sendsms gives.
"""

from __future__ import annotations

from urllib.parse import urlencode

import requests

from sms_gateway.config import Settings
from sms_gateway.gsm import septets
from sms_gateway.sending import SendError

# Delivered (1) + not delivered (2) + queued on SMSC (4) + SMSC accepted (8) + rejected (16).
DLR_MASK = 31
TIMEOUT_S = 15


class KannelSender:
    """Hand SMS to a Kannel smsbox."""

    name = "kannel"

    def __init__(self, settings: Settings, *, session: requests.Session | None = None) -> None:
        self.config = settings.kannel
        self.http = session or requests.Session()

    def dlr_url(self, message_id: int) -> str:
        """Return the URL Kannel calls with each delivery report for this message."""
        # %d (status), %A (SMSC's answer) and %p (the phone) are filled in by Kannel.
        query = urlencode({"key": self.config.secret or "", "msgid": message_id})
        separator = "&" if "?" in self.config.dlr_url else "?"
        return f"{self.config.dlr_url}{separator}{query}&status=%d&answer=%A&to=%p"

    def send(self, to: str, text: str, message_id: int) -> str | None:
        """Submit one SMS to sendsms; Kannel returns no id of its own (the DLR brings ours)."""
        if not self.config.username or not self.config.password:
            raise SendError("[kannel] username and password are not configured", permanent=True)
        params = {
            "username": self.config.username,
            "password": self.config.password,
            "to": to,
            "text": text,
            "charset": "UTF-8",
            # 7-bit where the text allows it; otherwise UCS-2 (70 characters a segment).
            "coding": "0" if septets(text) is not None else "2",
            "dlr-mask": str(DLR_MASK),
            "dlr-url": self.dlr_url(message_id),
        }
        if self.config.sender:
            params["from"] = self.config.sender
        if self.config.smsc:
            params["smsc"] = self.config.smsc
        try:
            response = self.http.get(self.config.sendsms_url, params=params, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise SendError(f"Kannel sendsms unreachable: {exc}", permanent=False) from None
        body = response.text.strip()
        if response.status_code == 202 or (response.ok and body.startswith(("0:", "3:"))):
            return None  # "0: Accepted for delivery" or "3: Queued for later delivery"
        if response.status_code == 403:
            raise SendError(f"Kannel refused the sendsms credentials: {body}", permanent=True)
        if 400 <= response.status_code < 500:
            raise SendError(
                f"Kannel rejected the message ({response.status_code}): {body}", permanent=True
            )
        raise SendError(f"Kannel sendsms failed ({response.status_code}): {body}", permanent=False)
