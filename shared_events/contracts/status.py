"""Status changes published on ``lienthong.dossier-status`` (cập nhật trạng thái hồ sơ).

Routing, postal and other services publish here whenever a dossier's national status
changes, so that intake can show the applicant the current status and sync it with the
national public-service portal.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared_events.contracts.base import Contract, Upcaster
from shared_events.contracts.values import NationalStatus
from shared_events.scalars import AgencyId, DossierCode, LongText, UtcDatetime
from shared_events.topics import DOSSIER_STATUS


class DossierStatusChanged(Contract):
    """The dossier's national status changed (thay đổi trạng thái hồ sơ).

    ``changed_by_agency_id`` names the agency whose action caused the change, when one did.
    """

    TYPE: ClassVar[str] = "vn.lienthong.dossier.status.changed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = DOSSIER_STATUS

    dossier_code: DossierCode
    national_status: NationalStatus
    reason: LongText | None = None
    changed_by_agency_id: AgencyId | None = None
    changed_at: UtcDatetime


class DossierWithdrawalDeclined(Contract):
    """Routing declined the applicant's withdrawal: the dossier was already done, closed or
    handed over when the request arrived (the status stays as it was)."""

    TYPE: ClassVar[str] = "vn.lienthong.dossier.withdrawal.declined"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = DOSSIER_STATUS

    dossier_code: DossierCode
    national_status: NationalStatus = Field(description="The status the dossier keeps.")
    reason: LongText
    declined_at: UtcDatetime


CONTRACTS: tuple[type[Contract], ...] = (DossierStatusChanged, DossierWithdrawalDeclined)
UPCASTERS: tuple[Upcaster, ...] = ()
