"""``python -m sms_gateway.cli``: the ``sms-gateway`` command without its console script."""

import sys

from sms_gateway.cli import main

sys.exit(main())
