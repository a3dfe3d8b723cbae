"""Keyed, deterministic replacements (spec §1.3 steps 3-5); every one is an HMAC-SHA256 under K.

`K` is a per-society or per-challenge secret held in the secret store: the same input maps to the
same output under one key (re-uploads line up), and outputs under two keys are unlinkable. Nothing
here is reversible without a separate re-identification table, which `imaging` never keeps.
"""

import base64
import hashlib
import hmac

MIN_KEY_BYTES = 16
_UUID_VERSION_MASK = 0xF << 76
_UUID_VARIANT_MASK = 0x3 << 62


def check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the de-identification key must be at least {MIN_KEY_BYTES} bytes")


def _mac(key: bytes, label: bytes, message: str) -> bytes:
    return hmac.new(key, label + b"\0" + message.encode("utf-8"), hashlib.sha256).digest()


def remap_uid(key: bytes, old: str) -> str:
    """`2.25.<UUIDv8 as an integer>`: at most 44 characters, valid per PS3.5 B.2."""
    number = int.from_bytes(_mac(key, b"uid", old)[:16], "big")
    number = (number & ~_UUID_VERSION_MASK) | (8 << 76)
    number = (number & ~_UUID_VARIANT_MASK) | (0x2 << 62)
    return f"2.25.{number}"


def pseudo_patient_id(key: bytes, patient_id: str, issuer: str = "") -> str:
    """"P" + 12 base32 characters (60 bits) of HMAC(K, "pid\\0" + issuer + "\\0" + patient id)."""
    digest = _mac(key, b"pid", f"{issuer}\0{patient_id}")
    return "P" + base64.b32encode(digest).decode("ascii")[:12]


def date_offset_days(key: bytes, pseudo_id: str) -> int:
    """Whole weeks, 1 to 10 years back: -7 * (52 + HMAC(K, "date\\0" + pid) mod 469)."""
    weeks = 52 + int.from_bytes(_mac(key, b"date", pseudo_id), "big") % 469
    return -7 * weeks
