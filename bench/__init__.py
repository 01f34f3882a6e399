"""``python -m bench``: intake's throughput and latency beside raw PostgreSQL and raw Kafka.

Not part of the tests and never asserts timings: it measures and prints. See docs/BENCHMARKS.md.

Modules:

* :mod:`bench.cli` — options, the order of the phases, clean-up;
* :mod:`bench.infrastructure` — which Kafka and PostgreSQL, and the machine's facts;
* :mod:`bench.deployment` — an isolated intake (schema, topics, credentials, processes);
* :mod:`bench.load` — submissions over HTTP and the committed tail of the events topic;
* :mod:`bench.baselines` — raw asyncpg INSERTs and raw aiokafka produces;
* :mod:`bench.figures` — percentiles and rates; :mod:`bench.report` — the table and JSON.
"""
