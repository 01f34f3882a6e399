"""Development and CI infrastructure: a real Kafka broker and a real PostgreSQL on 127.0.0.1.

No Docker: Kafka runs from jars Maven fetches once (``infra/kafka/pom.xml``), PostgreSQL
from the system's server binaries. ``infra.stack`` starts and stops both; ``infra.cli`` is
the ``lienthong infra`` command line. Nothing starts at import time.
"""
