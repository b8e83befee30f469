"""What the verifier needs at run time, built once per process.

:func:`build_context` gathers the catalogue and presets, the trust list (given; or
``<data dir>/trust.json`` as written by ``elicense keys export-trust``; or the platform's
own issuer keys when the runtime carries them), the RP CA (generated on
first start into ``<data dir>/keys/rp_ca/``), the webhook signing key, the status list
cache and the tolerances. Tests pass ``status_transport`` / ``webhook_transport``
(``httpx`` transports) to route HTTP to the app or to a capture.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from elicense.catalog import Catalog, load_catalog
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.trust import TrustList, single_issuer
from elicense.errors import ConfigError
from elicense.runtime import Runtime
from elicense.storage.sealing import Sealer
from elicense.verification import policy, rp_ca
from elicense.verification.checks import Verifier
from elicense.verification.status_cache import DEFAULT_MAX_TTL, StatusListCache

ROUTE_PREFIX = "/verification"
#: Bearer token for ``POST /verification/rps`` (RP onboarding); unset: onboarding is off.
ADMIN_TOKEN_ENV = "ELICENSE_VERIFICATION_ADMIN_TOKEN"  # noqa: S105 (a variable name)
#: Upper bound in seconds on how long a fetched status list is trusted (default 300).
STATUS_MAX_AGE_ENV = "ELICENSE_VERIFICATION_STATUS_MAX_AGE"


@dataclasses.dataclass(frozen=True, slots=True)
class VerificationContext:
    base_url: str
    catalog: Catalog
    presets: dict[str, policy.Preset]
    ca: rp_ca.RpCa
    webhook_signer: LocalSigner
    verifier: Verifier
    sealer: Sealer
    webhooks: httpx.Client
    request_ttl: int = 300
    result_retention: int = 600
    admin_token: str | None = None
    #: ``verifier`` with a status checker that never fetches (``None``: no such
    #: checker; the response path then always verifies off the event loop).
    cached_verifier: Verifier | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{ROUTE_PREFIX}{path}"


def build_context(
    runtime: Runtime,
    *,
    trust: TrustList | None = None,
    catalog: Catalog | None = None,
    status_transport: httpx.BaseTransport | None = None,
    webhook_transport: httpx.BaseTransport | None = None,
    request_ttl: int = 300,
    result_retention: int = 600,
    admin_token: str | None = None,
) -> VerificationContext:
    settings = runtime.settings
    catalog = catalog or runtime.catalog or load_catalog(base_url=settings.public_base_url)
    trust = trust or _platform_trust(runtime)
    keys_dir = settings.keys_dir / "rp_ca"
    status = _status_cache(trust, status_transport)
    verifier = Verifier(trust, catalog, status)
    return VerificationContext(
        base_url=settings.public_base_url,
        catalog=catalog,
        presets=policy.load_presets(catalog),
        ca=rp_ca.load_or_create(keys_dir),
        webhook_signer=_webhook_signer(keys_dir),
        verifier=verifier,
        sealer=runtime.sealer,
        webhooks=httpx.Client(transport=webhook_transport, timeout=5.0),
        request_ttl=request_ttl,
        result_retention=result_retention,
        admin_token=admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None,
        cached_verifier=dataclasses.replace(verifier, status=status.cached_only()),
    )


_build_lock = threading.Lock()


def context_of(state: Any, runtime: Runtime) -> VerificationContext:
    """The app's context (``state.verification``), built from ``runtime`` on first use
    when the app builder did not set one."""
    ctx: VerificationContext | None = getattr(state, "verification", None)
    if ctx is None:
        with _build_lock:
            ctx = getattr(state, "verification", None) or build_context(runtime)
            state.verification = ctx
    return ctx


def _status_cache(trust: TrustList, transport: httpx.BaseTransport | None) -> StatusListCache:
    raw = os.environ.get(STATUS_MAX_AGE_ENV) or str(DEFAULT_MAX_TTL)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{STATUS_MAX_AGE_ENV} must be a positive number of seconds")
    return StatusListCache(trust, transport=transport, max_ttl=int(raw))


def _platform_trust(runtime: Runtime) -> TrustList:
    path = runtime.settings.data_dir / "trust.json"
    if path.exists():
        return TrustList.load(path)
    keys = runtime.issuer_keys
    if keys is not None:
        return single_issuer(keys.issuer_url, keys.jwks()["keys"])
    raise ConfigError(f"verifier has no trust list: no issuer keys and no {path}")


def _webhook_signer(directory: Path) -> LocalSigner:
    path = directory / "webhook.key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return LocalSigner(key)
    key = ec.generate_private_key(ec.SECP256R1())
    directory.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return LocalSigner(key)
