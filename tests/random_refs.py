"""Random identifiers for tests, so no two tests (or runs) ever collide."""

from __future__ import annotations

import hashlib
import random
import secrets
import uuid


def random_suffix(length: int = 8) -> str:
    return uuid.uuid4().hex[:length]


def random_agency_id() -> str:
    """An electronic agency id in the `000.00.NN.HXX` shape, random enough to be unique."""
    return f"T{secrets.randbelow(10**6):06d}.{secrets.randbelow(10**4):04d}.H40"


def random_citizen_id() -> str:
    return f"{random.randint(1, 96):03d}{random.randint(0, 999999999):09d}"


def random_sha256() -> str:
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


def random_name() -> str:
    family = random.choice(["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng"])
    middle = random.choice(["Văn", "Thị", "Minh", "Ngọc", "Hữu", "Thanh"])
    given = random.choice(["An", "Bình", "Chi", "Dũng", "Hà", "Lan", "Nam", "Thảo"])
    return f"{family} {middle} {given}"
