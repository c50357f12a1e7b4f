"""One module per SMS command. ``handlers.routes.default_router`` lists them in order.

A handler takes the message context and the parsed command, calls the service
layer, and returns a Reply. It never commits and never sends anything itself;
to refuse, it raises a domain error from ``sms_gateway.errors``.
"""
