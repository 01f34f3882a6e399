"""Export the JSON Schema of every registered contract and of the envelope.

    python -m shared_events.export            # (re)write shared_events/schemas/
    python -m shared_events.export --check    # exit 1 if the files on disk differ from the models
    python -m shared_events.export --out DIR  # write (or check) another directory

One file per ``(type, version)``, named ``<type>.v<N>.json``, plus ``envelope.json``.
Output is deterministic (sorted keys, two-space indent, UTF-8, trailing newline) so the
files can be committed and CI can catch drift with ``--check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared_events.contracts.base import SCHEMA_BASE_URI
from shared_events.envelope import CloudEvent
from shared_events.registry import REGISTRY, Registry

DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ENVELOPE_FILE = "envelope.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_schemas(registry: Registry = REGISTRY) -> dict[str, str]:
    """File name → file content for every contract in ``registry`` and for the envelope."""
    files: dict[str, str] = {}
    for type_, version in registry:
        model = registry[(type_, version)]
        schema = model.model_json_schema(mode="validation")
        schema.update({"$schema": JSON_SCHEMA_DIALECT, "$id": model.schema_uri(), "title": model.versioned_type()})
        files[f"{model.versioned_type()}.json"] = _render(schema)
    envelope = CloudEvent.model_json_schema(mode="validation")
    envelope.update({"$schema": JSON_SCHEMA_DIALECT, "$id": f"{SCHEMA_BASE_URI}{ENVELOPE_FILE}"})
    files[ENVELOPE_FILE] = _render(envelope)
    return files


def find_drift(directory: Path, registry: Registry = REGISTRY) -> list[str]:
    """Human-readable differences between ``directory`` and the models; empty when up to date."""
    expected = render_schemas(registry)
    problems = []
    for name, content in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"out of date: {path}")
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")):
            if path.name not in expected:
                problems.append(f"stale (no registered contract): {path}")
    return problems


def write_schemas(directory: Path, registry: Registry = REGISTRY) -> list[Path]:
    """Write every schema into ``directory`` (created if needed); return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_schemas(registry).items():
        path = directory / name
        path.write_text(content, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared_events.export",
        description="Write (or check) the JSON Schema of every event contract and of the CloudEvents envelope.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_SCHEMA_DIR, metavar="DIR",
                        help=f"directory of the schema files (default: {DEFAULT_SCHEMA_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files in DIR differ from the models")
    args = parser.parse_args(argv)
    REGISTRY.verify()
    if args.check:
        problems = find_drift(args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("schemas are out of date: run `python -m shared_events.export`", file=sys.stderr)
            return 1
        print(f"schemas in {args.out} are up to date")
        return 0
    for path in write_schemas(args.out):
        print(f"wrote {path}")
    for problem in find_drift(args.out):
        print(f"warning: {problem}; delete it if the contract is gone", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
