"""The carrier simulator: a real HTTP process that behaves like the public postal carrier.

It serves the API of :mod:`postal.carrier_api` (tokens, orders, tracking), moves shipments on its
own clock, sends signed Standard Webhooks, and misbehaves on demand (``/admin/behaviour``).
Run it with ``lienthong run postal-sim`` or ``python -m postal.simulator --help``.
"""
