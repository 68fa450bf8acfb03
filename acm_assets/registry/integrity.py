"""SHA-256 and optional HMAC-SHA256 of stored rows, checked before anything is unpickled.

`joblib.load` executes code from the bytes it reads, so a row is verified first: the SHA-256 catches
corruption and truncation, the HMAC (when a key is configured) catches anyone who can write the table but
does not hold the key. A model row's HMAC binds equipment and model type (server-side carry-forward copies
stay valid); a manifest's HMAC binds equipment and version, and the manifest lists every model's SHA-256,
so a signed row replayed from another version, equipment or type fails the manifest's record.
"""

from __future__ import annotations

import hashlib
import hmac


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def sign(key: str, equip_id: int, model_type: str, digest: str) -> str:
    return _mac(key, f"{equip_id}|{model_type}|{digest}")


def sign_manifest(key: str, equip_id: int, version: int, digest: str) -> str:
    return _mac(key, f"manifest|{equip_id}|{version}|{digest}")


def _mac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def problem(payload: bytes | None, stats: dict, key: str | None, expected_signature) -> str | None:
    """Why these bytes must not be used, or None when they pass every configured check;
    `expected_signature(key, digest)` is the signature this row must carry."""
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
        if not hmac.compare_digest(signature, expected_signature(key, actual)):
            return "HMAC signature does not match (tampered row, replayed row or wrong key)"
    return None
