"""Notifications to citizens (email, SMS, messaging) and signed webhooks to agency systems.

The notify service is not built yet: this package holds its place in the layout (see README,
"Layout"). It will stand on the chassis in ``services/`` like intake and routing, with its own
schema, event store, relay and consumer.
"""
