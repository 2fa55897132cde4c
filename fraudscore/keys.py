"""Secret keys for pseudonyms and fingerprints.

fraudscore never generates, stores or bundles a secret. The caller passes one
master secret (``bytes`` or ``str``, at least 16 bytes) or sets the environment
variable ``FRAUDSCORE_KEY``; from it :class:`Keys` derives independent subkeys
with BLAKE2b personalisation, one per purpose, so a pseudonym key leak does not
reveal fingerprint hashes and vice versa. A bundle records only
:attr:`Keys.key_id`, a short non-secret identifier that tells whether a scorer
was loaded with the key its bundle was trained with.

Examples
--------
>>> k = Keys(b"0123456789abcdef-demo-secret")
>>> len(k.pseudonym), len(k.fingerprint), len(k.bundle), k.key_id
(32, 64, 32, '7c67137afddcd96b')
>>> Keys(b"short")
Traceback (most recent call last):
...
fraudscore.errors.ConfigError: The 'secret' parameter of Keys must be at least 16 bytes. Got 5 bytes instead.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from .errors import ConfigError

__all__ = ["Keys", "KEY_ENV_VAR"]

KEY_ENV_VAR = "FRAUDSCORE_KEY"


def _derive(secret: bytes, purpose: bytes, size: int = 32) -> bytes:
    return hashlib.blake2b(b"fraudscore", key=secret[:64], person=purpose[:16], digest_size=size).digest()


@dataclass(frozen=True, repr=False)
class Keys:
    """Subkeys derived from one caller-supplied secret.

    Parameters
    ----------
    secret : bytes or str
        The master secret; ``str`` is UTF-8 encoded. At least 16 bytes. Longer
        secrets are first compressed with BLAKE2b.

    Attributes
    ----------
    pseudonym : bytes
        32-byte key for identifier pseudonyms (keyed BLAKE2b).
    fingerprint : bytes
        64-byte secret for device fingerprint hashes (xxh3 with secret).
    fingerprint_seed : int
        64-bit seed derived from the same secret, for the xxh3 64-bit sections.
    bundle : bytes
        32-byte key for bundle signatures (HMAC-SHA256 over the manifest).
    key_id : str
        16 hex characters identifying the secret; safe to store and log.
    """

    secret: bytes
    pseudonym: bytes = field(init=False)
    fingerprint: bytes = field(init=False)
    fingerprint_seed: int = field(init=False)
    bundle: bytes = field(init=False)
    key_id: str = field(init=False)

    def __init__(self, secret: bytes | str) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, (bytes, bytearray)):
            raise ConfigError(
                f"The 'secret' parameter of Keys must be bytes or str. Got {type(secret).__name__} instead."
            )
        secret = bytes(secret)
        if len(secret) < 16:
            raise ConfigError(
                f"The 'secret' parameter of Keys must be at least 16 bytes. Got {len(secret)} bytes instead."
            )
        if len(secret) > 64:
            secret = hashlib.blake2b(secret, digest_size=64).digest()
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "pseudonym", _derive(secret, b"fs-pseudonym"))
        object.__setattr__(self, "fingerprint", _derive(secret, b"fs-fingerprint", 64))
        seed = int.from_bytes(_derive(secret, b"fs-fp-seed", 8), "little")
        object.__setattr__(self, "fingerprint_seed", seed)
        object.__setattr__(self, "bundle", _derive(secret, b"fs-bundle-sign"))
        object.__setattr__(self, "key_id", _derive(secret, b"fs-key-id", 8).hex())

    def __repr__(self) -> str:  # never print the secret
        return f"Keys(key_id={self.key_id!r})"

    @classmethod
    def from_env(cls, var: str = KEY_ENV_VAR) -> Keys:
        """Read the secret from an environment variable.

        Raises
        ------
        ConfigError
            When the variable is unset or too short.
        """
        value = os.environ.get(var)
        if not value:
            raise ConfigError(
                f"No secret key: pass key=... or set the {var} environment variable "
                "(at least 16 characters)."
            )
        return cls(value)

    @classmethod
    def resolve(cls, key: Keys | bytes | str | None) -> Keys:
        """Return ``key`` as :class:`Keys`, reading :data:`KEY_ENV_VAR` when ``None``."""
        if isinstance(key, Keys):
            return key
        if key is None:
            return cls.from_env()
        return cls(key)
