"""``python -m bench``: intake's and routing's throughput and latency beside raw PostgreSQL and raw Kafka.

Not part of the tests and never asserts timings: it measures and prints. See docs/BENCHMARKS.md.

Modules:

* :mod:`bench.cli` — options, the order of the phases, clean-up;
* :mod:`bench.infrastructure` — which Kafka and PostgreSQL, and the machine's facts;
* :mod:`bench.deployment` — an isolated intake, or intake + routing (schemas, topics, credentials,
  processes);
* :mod:`bench.load` — submissions over HTTP and committed tails of topics;
* :mod:`bench.routing` — desk dossiers until their first step is open, and step hand-offs;
* :mod:`bench.baselines` — raw asyncpg INSERTs, raw aiokafka produces and Kafka round trips;
* :mod:`bench.figures` — percentiles and rates; :mod:`bench.report` — the table and JSON.
"""
