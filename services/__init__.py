"""The chassis every lienthong service stands on.

Settings, the FastAPI app factory, authentication, problem+json errors, logging and
metrics, the Kafka producer, the event-store relay, the tracking consumer, dead letters
and the ``lienthong`` command line.
"""
