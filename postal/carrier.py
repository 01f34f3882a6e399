"""The carrier's HTTP client: OAuth2 token cache, retries with backoff, and a circuit breaker.

Every call is one unit for the breaker (``purgatory``, one breaker per partner ``base_url``):
inside it, ``tenacity`` retries timeouts, transport errors, 5xx and 429 up to
``CarrierPolicy.attempts`` tries, waiting with exponential backoff and jitter, or what a 429/503's
``Retry-After`` asks (capped). Every try of a POST carries the same ``Idempotency-Key``, so a retry
never makes a second order.

Errors: :class:`CarrierUnavailable` is transient (keep the action queued, try later);
:class:`CarrierRefused` (and :class:`CarrierConflict`, :class:`CarrierNotFound`) is the carrier's
permanent answer to this request. Only the first kind counts against the breaker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import pydantic
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import CLOSED, HALF_OPENED, OPENED, OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from postal.carrier_api import Order, OrderRequest, TokenAnswer
from services.observability import ThrottledLog

log = logging.getLogger(__name__)

TOKEN_RENEWAL_SHARE = 0.9
"""A token is renewed once this share of its life has passed ..."""
TOKEN_MAX_EARLY_SECONDS = 60.0
"""... but never more than this long before it expires."""
DETAIL_MAX_CHARS = 300
IDEMPOTENCY_KEY_MAX_CHARS = 255

_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_CHARS}}}$")
_DELTA_SECONDS = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class CarrierError(Exception):
    """Any failure of a call to the carrier."""


class CarrierUnavailable(CarrierError):
    """Transient: retries exhausted, time-outs, or the breaker is open. Keep the action and try later."""

    def __init__(self, message: str, *, status: int | None = None, circuit_open: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.circuit_open = circuit_open


class CarrierRefused(CarrierError):
    """Permanent: the carrier answered this request with a 4xx (``detail`` from its body, truncated)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the carrier refused ({status}): {detail}" if detail else f"the carrier refused ({status})")
        self.status = status
        self.detail = detail


class CarrierConflict(CarrierRefused):
    """409: the order's state forbids the action (e.g. a cancel once collected)."""


class CarrierNotFound(CarrierRefused):
    """404: no such order."""


@dataclass(frozen=True)
class CarrierPartner:
    """Where the carrier is and the client credentials postal holds there."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("the carrier's base_url must be an http(s) URL")
        if not self.client_id or not self.client_secret:
            raise ValueError("the carrier's client_id and client_secret must not be empty")


@dataclass(frozen=True)
class CarrierPolicy:
    """How hard to try: tries per call, their backoff, time-outs, the breaker, the Retry-After cap."""

    attempts: int = 4
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0
    timeout_seconds: float = 5.0
    breaker_threshold: int = 5
    breaker_reset_seconds: float = 30.0
    max_retry_after_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0 < self.initial_backoff_seconds <= self.max_backoff_seconds:
            raise ValueError("backoff needs 0 < initial_backoff_seconds <= max_backoff_seconds")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        if self.breaker_threshold < 1:
            raise ValueError("breaker_threshold must be at least 1")
        if self.breaker_reset_seconds <= 0:
            raise ValueError("breaker_reset_seconds must be > 0")
        if self.max_retry_after_seconds < 0:
            raise ValueError("max_retry_after_seconds must be >= 0")


def is_transient_status(status: int) -> bool:
    """True for the answers worth another try: 408, 429 and every 5xx."""
    return status in (408, 429) or 500 <= status <= 599


def retry_after_seconds(header_value: str | None, now: datetime) -> float | None:
    """The wait a ``Retry-After`` asks for (delta-seconds or an HTTP-date; 0 for a date past), or None."""
    if header_value is None:
        return None
    value = header_value.strip()
    if _DELTA_SECONDS.match(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def token_use_seconds(expires_in: float) -> float:
    """How long a token that expires in ``expires_in`` seconds is used before a new one is fetched."""
    return expires_in - min((1 - TOKEN_RENEWAL_SHARE) * expires_in, TOKEN_MAX_EARLY_SECONDS)


def check_idempotency_key(key: str) -> str:
    """``key`` when it is 1 to 255 visible ASCII characters; else ValueError."""
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValueError(f"an Idempotency-Key is 1 to {IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters")
    return key


def problem_detail(body: bytes) -> str:
    """What a refusal's body says (``detail``/``title`` of a problem, OAuth2's ``error``), truncated."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for name in ("detail", "error_description", "title", "error", "message"):
            value = parsed.get(name)
            if value:
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                break
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_MAX_CHARS else text[: DETAIL_MAX_CHARS - 1] + "…"


def refusal(status: int, body: bytes) -> CarrierRefused:
    """The permanent error for a non-transient, non-2xx answer."""
    kind = {404: CarrierNotFound, 409: CarrierConflict}.get(status, CarrierRefused)
    return kind(status, problem_detail(body))


class _TransientAnswer(Exception):
    """An answer worth another try (5xx, 429, 408); ``retry_after`` when a 429/503 said how long to wait."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"the carrier answered {status}")
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: float  # time.monotonic()


class CarrierClient:
    """The carrier's API, for one partner; use ``async with`` or call :meth:`aclose`."""

    def __init__(self, partner: CarrierPartner, policy: CarrierPolicy | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.partner = partner
        self.policy = policy or CarrierPolicy()
        self._http = httpx.AsyncClient(base_url=partner.base_url, transport=transport,
                                       timeout=self.policy.timeout_seconds)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=self.policy.breaker_threshold, default_ttl=self.policy.breaker_reset_seconds)
        self._breaker: AsyncCircuitBreaker | None = None
        self._trial_running = False
        self._retry_log = ThrottledLog(log)
        self._open_log = ThrottledLog(log)
        self._backoff = wait_exponential_jitter(
            multiplier=self.policy.initial_backoff_seconds, max=self.policy.max_backoff_seconds,
            jitter=self.policy.initial_backoff_seconds, min=self.policy.initial_backoff_seconds)

    async def __aenter__(self) -> CarrierClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def circuit_open(self) -> bool:
        """True while a call would fail at once without reaching the carrier (the breaker is open)."""
        if self._breaker is None:
            return False
        context = self._breaker.context
        if context.state == OPENED:
            return time.time() <= (context.opened_at or 0.0) + context.ttl
        return context.state == HALF_OPENED and self._trial_running

    async def place_order(self, order: OrderRequest, idempotency_key: str) -> Order:
        """Order one leg; the same key again gives back the same order, never a second one."""
        return await self._call("POST", "/v1/orders", idempotency_key=idempotency_key,
                                json_body=order.model_dump(mode="json"))

    async def order(self, order_id: str) -> Order:
        """The order with its whole tracking."""
        return await self._call("GET", _order_path(order_id))

    async def cancel(self, order_id: str, idempotency_key: str) -> Order:
        """Cancel before collection; CarrierConflict once collected."""
        return await self._call("POST", _order_path(order_id, "cancel"), idempotency_key=idempotency_key)

    async def redeliver(self, order_id: str, idempotency_key: str) -> Order:
        """Another delivery attempt after ``delivery_failed``; CarrierConflict otherwise."""
        return await self._call("POST", _order_path(order_id, "redeliver"), idempotency_key=idempotency_key)

    async def return_to_sender(self, order_id: str, idempotency_key: str) -> Order:
        """Bring it back to the sender after ``delivery_failed``; CarrierConflict otherwise."""
        return await self._call("POST", _order_path(order_id, "return"), idempotency_key=idempotency_key)

    async def _call(self, method: str, path: str, *, idempotency_key: str | None = None,
                    json_body: dict[str, Any] | None = None) -> Order:
        headers = {} if idempotency_key is None else {"Idempotency-Key": check_idempotency_key(idempotency_key)}
        breaker = await self._circuit()
        trial = breaker.context.state != CLOSED
        if trial and self._trial_running:
            raise CarrierUnavailable("the carrier's circuit is open: a trial call is under way", circuit_open=True)
        if trial:
            self._trial_running = True
        try:
            async with breaker:
                response = await self._with_retries(method, path, headers, json_body)
                return _order_of(response)
        except OpenedState:
            self._open_log.warning("the carrier's circuit is open: calls fail at once",
                                   extra={"carrier": self.partner.base_url})
            raise CarrierUnavailable("the carrier's circuit is open", circuit_open=True) from None
        finally:
            if trial:
                self._trial_running = False

    async def _circuit(self) -> AsyncCircuitBreaker:
        # Refusals show the carrier is up: they do not count. Nor does a cancelled call, which
        # purgatory then takes as a success (the lesser evil: counting it would open the breaker
        # on a shutdown).
        if self._breaker is None:
            self._breaker = await self._breakers.get_breaker(
                self.partner.base_url, exclude=[CarrierRefused, asyncio.CancelledError])
        return self._breaker

    async def _with_retries(self, method: str, path: str, headers: dict[str, str],
                            json_body: dict[str, Any] | None) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception_type((_TransientAnswer, httpx.TransportError)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            response: httpx.Response = await retrying(self._attempt, method, path, headers, json_body)
        except _TransientAnswer as exc:
            raise CarrierUnavailable(f"{method} {path}: the carrier answered {exc.status}",
                                     status=exc.status) from exc
        except httpx.TransportError as exc:
            raise CarrierUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}"[:500]) from exc
        return response

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _TransientAnswer) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_retry_after_seconds)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        self._retry_log.warning("a carrier call failed; retrying", extra={
            "call": f"{state.args[0]} {state.args[1]}", "attempt": state.attempt_number,
            "wait_seconds": round(state.upcoming_sleep, 3), "error": f"{type(exc).__name__}: {exc}"[:300]})

    async def _attempt(self, method: str, path: str, headers: dict[str, str],
                       json_body: dict[str, Any] | None) -> httpx.Response:
        """One try; a 401 drops the token and tries once more with a fresh one."""
        token = await self._valid_token()
        response = await self._http.request(method, path, json=json_body,
                                            headers=headers | {"Authorization": f"Bearer {token}"})
        if response.status_code == 401:
            self._drop_token(token)
            token = await self._valid_token()
            response = await self._http.request(method, path, json=json_body,
                                                headers=headers | {"Authorization": f"Bearer {token}"})
        return _checked(response)

    async def _valid_token(self) -> str:
        current = self._token
        if current is not None and time.monotonic() < current.renew_at:
            return current.value
        async with self._token_lock:
            current = self._token
            if current is not None and time.monotonic() < current.renew_at:
                return current.value
            self._token = await self._fetch_token()
            return self._token.value

    def _drop_token(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch_token(self) -> _Token:
        started = time.monotonic()
        response = _checked(await self._http.post("/oauth/token", data={
            "grant_type": "client_credentials",
            "client_id": self.partner.client_id,
            "client_secret": self.partner.client_secret,
        }))
        try:
            answer = TokenAnswer.model_validate_json(response.content)
        except pydantic.ValidationError:
            raise CarrierUnavailable("the carrier's token endpoint gave an answer postal cannot read") from None
        return _Token(answer.access_token, started + token_use_seconds(answer.expires_in))


def _checked(response: httpx.Response) -> httpx.Response:
    """``response`` when 2xx; else _TransientAnswer (worth another try) or the CarrierRefused it means."""
    status = response.status_code
    if 200 <= status <= 299:
        return response
    if is_transient_status(status):
        retry_after = None
        if status in (429, 503):
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
        raise _TransientAnswer(status, retry_after)
    raise refusal(status, response.content)


def _order_of(response: httpx.Response) -> Order:
    try:
        return Order.model_validate_json(response.content)
    except pydantic.ValidationError:
        raise CarrierUnavailable(f"{response.request.method} {response.request.url.path}: "
                                 "the carrier gave an answer postal cannot read") from None


def _order_path(order_id: str, action: str | None = None) -> str:
    if not order_id:
        raise ValueError("an order id must not be empty")
    path = f"/v1/orders/{quote(order_id, safe='')}"
    return path if action is None else f"{path}/{action}"
