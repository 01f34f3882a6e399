"""Reading one aggregate over HTTP as one dependency: load it or answer 404, then check the reader.

A service's read use case loads the aggregate a path names and checks that the caller may see it,
and raises its "not found" error in both cases — nothing has that code, or the caller has no part
in it — so the two answers are the same 404 and existence is not revealed. :func:`readable` turns
such a use case into a FastAPI dependency: the endpoint receives the aggregate, or the request has
already been answered (the reader's own 401/403 first, then the 404). Any other error goes on to
the service's handlers (503 when a dependency failed).

Usage, in a service's ``api`` (routing's ``routing/api/deps.py`` is one)::

    async def read(request: Request, principal: Principal, code: str) -> Dossier:
        store = request.app.state.store
        return await store.call(store.app.readable, principal, code)   # the service's use case

    ReadableDossier = Annotated[Dossier, Depends(readable(
        read, reader=require_role("dossier:read"), hidden=(DossierNotFoundError,),
        not_found=lambda code: Problem(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"Không có hồ sơ mã {code}"),
        code=Path(min_length=1, max_length=40, description="Mã hồ sơ"),
    ))]

    @router.get("/{code}")
    async def get_dossier(dossier: ReadableDossier) -> DossierPublic: ...

A use case that tells "not yours" apart from "not there" (a ``NotEntitledError``) lists both in
``hidden``: both become the same ``not_found`` problem.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request

from services.auth import Principal
from services.problems import Problem

T = TypeVar("T")

ReadUseCase = Callable[[Request, Principal, str], Awaitable[T]]
"""Runs the service's read use case for ``(request, caller, code)``: the aggregate, or one of the
``hidden`` errors when there is none the caller may see."""


def readable(
    read: ReadUseCase[T],
    *,
    reader: Callable[..., Any],
    hidden: tuple[type[Exception], ...],
    not_found: Callable[[str], Problem],
    code: Any = None,
) -> Callable[..., Awaitable[T]]:
    """A FastAPI dependency giving the aggregate named by the path parameter ``code``, read for the
    principal ``reader`` (a dependency, e.g. ``require_role("dossier:read")``) lets through.

    Every error in ``hidden`` becomes ``not_found(code)``, the one answer for "no such aggregate"
    and "not the caller's to see". ``code`` is the path parameter's declaration (``Path(...)``
    with the service's bounds; by default an unbounded string).
    """
    code_parameter = Path(description="Mã hồ sơ") if code is None else code
    # No ``from __future__ import annotations`` here: FastAPI reads this signature at runtime, and
    # ``reader`` is this call's own.

    async def dependency(request: Request, principal: Annotated[Principal, Depends(reader)],
                         code: str = code_parameter) -> T:
        try:
            return await read(request, principal, code)
        except hidden:
            raise not_found(code) from None

    return dependency
