"""Field-level encryption for personal data kept at rest (identity documents)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    key = base64.urlsafe_b64encode(hashlib.sha256(key_material.encode()).digest())
    return Fernet(key)


def encrypt(value: str) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode("ascii")).decode()
    except InvalidToken as exc:
        raise ValueError("encrypted value cannot be read with the configured key") from exc


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext, exposes plain text. Not searchable or sortable by design."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        if value in (None, ""):
            return ""
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return ""
        return encrypt(str(value))


def mask(value: str, visible: int = 4) -> str:
    """'4510 123456' -> '••••••3456'; short values are masked completely."""
    compact = "".join(value.split())
    if len(compact) <= visible:
        return "•" * len(compact)
    return "•" * (len(compact) - visible) + compact[-visible:]
