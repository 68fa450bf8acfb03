"""SHA-256 and optional HMAC-SHA256 of stored model bytes, checked before anything is unpickled.

`joblib.load` executes code from the bytes it reads, so a row is verified first: the SHA-256 catches
corruption and truncation, the HMAC (when a key is configured) catches anyone who can write the table but
does not hold the key. The HMAC binds equipment and model type, so a signed row cannot be replayed onto
another machine or type; it does not bind the version, so server-side carry-forward copies stay valid.
"""

from __future__ import annotations

import hashlib
import hmac


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def sign(key: str, equip_id: int, model_type: str, digest: str) -> str:
    message = f"{equip_id}|{model_type}|{digest}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def problem(payload: bytes | None, stats: dict, key: str | None, equip_id: int, model_type: str) -> str | None:
    """Why these bytes must not be unpickled, or None when they pass every configured check."""
    if payload is None:
        return "ModelBytes is NULL"
    expected = stats.get("sha256")
    if not expected:
        return "no sha256 recorded in StatsJSON"
    actual = sha256_hex(payload)
    if actual != expected:
        return f"sha256 mismatch (stored {expected[:12]}..., bytes hash to {actual[:12]}..., {len(payload)} bytes)"
    if key:
        signature = stats.get("hmac")
        if not signature:
            return "row is unsigned but an HMAC key is configured"
        if not hmac.compare_digest(signature, sign(key, equip_id, model_type, actual)):
            return "HMAC signature does not match (tampered row or wrong key)"
    return None
