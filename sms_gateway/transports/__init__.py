"""Transport adapters: one module per SMS provider, each at the edge of the app.

An adapter verifies the request, normalises it into an ``InboundMessage``,
hands it to ``Gateway.handle`` and renders the ``Reply`` the way its provider
expects. Nothing provider-specific lives outside its module.
"""
