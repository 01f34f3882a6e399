"""Simulated agency systems: act on a step through the REST inbox or through Kafka.

A REST agency posts to ``/v1/inbox``; a stream-integrated agency first finds the step on its
own inbox topic, then sends its actions to its own reply topic — the two ways real agency
systems integrate. Either uploads the result documents an action refers to first (the files
:func:`result_document` made), with its own token, as real agency systems must.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import httpx

from shared_events import encode, to_cloud_event
from shared_events.contracts.routing import AgencyActed
from tests.support.kafka import eventually, produce, read_until
from tests.support.system import SystemDeployment
from tests.support.uploads import a_document, remembered, upload


def result_document(name: str = "ket_qua") -> dict[str, Any]:
    """A reference to a new result file (a PDF), which the simulator uploads before acting with it."""
    return a_document(name)


class AgencySimulator:
    """One deployment's agencies; tokens are fetched once per agency."""

    def __init__(self, system: SystemDeployment, http: httpx.AsyncClient) -> None:
        self.system = system
        self.http = http
        self._tokens: dict[str, str] = {}

    def token(self, agency_id: str) -> str:
        if agency_id not in self._tokens:
            self._tokens[agency_id] = self.system.agency_token(agency_id)
        return self._tokens[agency_id]

    def headers(self, agency_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agency_id)}"}

    async def upload(self, agency_id: str, documents: Any) -> None:
        """Upload, as ``agency_id``, the files among ``documents`` that the tests made — again while
        routing is down or restarting (a test may be killing it), as an agency system would."""
        for document in documents or []:
            data = remembered(str(document.get("sha256")))
            if data is None:
                continue  # a test's deliberately unknown reference

            async def attempt(data: bytes = data, media_type: str = str(document.get("media_type"))) -> bool | None:
                try:
                    response = await upload(self.http, self.token(agency_id), data, media_type,
                                            base_url=self.system.routing_url)
                except httpx.TransportError:
                    return None
                if response.status_code >= 500:
                    return None
                assert response.status_code in (200, 201), response.text
                return True
            await eventually(attempt, timeout=120)

    async def rest(self, code: str, step_key: str, agency_id: str, action: str,
                   body: dict[str, Any] | None = None) -> httpx.Response:
        await self.upload(agency_id, (body or {}).get("documents"))
        return await self.http.post(f"{self.system.routing_url}/v1/inbox/{code}/steps/{step_key}/{action}",
                                    json=body, headers=self.headers(agency_id))

    async def seen_on_inbox_topic(self, code: str, step_key: str, agency_id: str) -> dict[str, Any]:
        """The StepOpened record the agency received on its own topic."""
        def ours(record: Any) -> bool:
            return record.key == code.encode() and json.loads(record.value)["data"]["step_key"] == step_key
        records = await read_until(self.system.kafka, self.system.agency_inbox_topic(agency_id),
                                   lambda rs: len(rs) >= 1, keep=ours, timeout=60)
        return json.loads(records[0].value)

    async def kafka(self, code: str, step_key: str, agency_id: str, action: str, acted_at: datetime, *,
                    topic_of: str | None = None, correlation_id: str | None = None, **fields: Any) -> str:
        """Send ``agency_id``'s reply on the reply topic of ``topic_of`` (default: its own); its event id."""
        await self.upload(agency_id, fields.get("documents"))
        reply = AgencyActed(dossier_code=code, step_key=step_key, agency_id=agency_id, action=action,
                            acted_at=acted_at, **fields)
        event_id = str(uuid.uuid4())
        envelope = to_cloud_event(reply, id=event_id, source=f"/agencies/{agency_id}", subject=code,
                                  time=acted_at, correlation_id=correlation_id or str(uuid.uuid4()))
        await produce(self.system.kafka, self.system.agency_reply_topic(topic_of or agency_id), encode(envelope),
                      key=code.encode())
        return event_id

    async def claim_and_complete(self, code: str, step: dict[str, Any], at: datetime) -> None:
        """The step's agency takes it and finishes it at ``at``, by its integration."""
        agency, key = step["agency_id"], step["key"]
        if step["integration"] == "kafka":
            await self.seen_on_inbox_topic(code, key, agency)
            await self.kafka(code, key, agency, "claim", at)
            await self.kafka(code, key, agency, "complete", at, documents=[result_document()])
        else:
            claimed = await self.rest(code, key, agency, "claim")
            assert claimed.status_code == 200, claimed.text
            done = await self.rest(code, key, agency, "complete", {"documents": [result_document()]})
            assert done.status_code == 200, done.text


async def routed_view(system: SystemDeployment, http: httpx.AsyncClient, token: str, code: str,
                      until: Any = lambda view: view["route_version"] is not None, timeout: float = 60) -> dict:
    """Poll routing's view of the dossier until ``until(view)`` holds."""
    async def check() -> dict | None:
        response = await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}",
                                  headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            return None
        view = response.json()
        return view if until(view) else None
    return await eventually(check, timeout=timeout)


def step_done(key: str) -> Any:
    return lambda view: any(s["key"] == key and s["state"] == "done" for s in view["steps"])
