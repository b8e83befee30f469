"""Discovery documents: Credential Issuer metadata (OpenID4VCI 1.0 Section 12.2) and
OAuth Authorization Server metadata (RFC 8414), built from the catalogue. Pure."""

from __future__ import annotations

from typing import Any

from elicense.catalog.model import Catalog, CredentialType, LocalizedText
from elicense.issuance.formats import format_for
from elicense.issuance.service import BATCH_SIZE, PRE_AUTHORIZED_GRANT

PROOF_SIGNING_ALGS = ["ES256", "EdDSA"]
DPOP_SIGNING_ALGS = ["ES256", "EdDSA"]
ISSUER_DISPLAY = LocalizedText(zh_cn="电子证照", en="eLicense")
TOKEN_PATH = "/issuance/token"  # noqa: S105 (a URL path)
CREDENTIAL_PATH = "/issuance/credential"
NONCE_PATH = "/issuance/nonce"
NOTIFICATION_PATH = "/issuance/notification"
JWKS_PATH = "/.well-known/jwks.json"


def credential_issuer_metadata(catalog: Catalog, base_url: str) -> dict[str, Any]:
    return {
        "credential_issuer": base_url,
        "credential_endpoint": base_url + CREDENTIAL_PATH,
        "nonce_endpoint": base_url + NONCE_PATH,
        "notification_endpoint": base_url + NOTIFICATION_PATH,
        "jwks_uri": base_url + JWKS_PATH,
        "batch_credential_issuance": {"batch_size": BATCH_SIZE},
        "display": _display(ISSUER_DISPLAY),
        "credential_configurations_supported": {t.id: configuration(t) for t in catalog},
    }


def configuration(credential_type: CredentialType) -> dict[str, Any]:
    """One entry of ``credential_configurations_supported``."""
    return {
        **format_for(credential_type).configuration_metadata(credential_type),
        "scope": credential_type.id,
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": {
            "jwt": {"proof_signing_alg_values_supported": PROOF_SIGNING_ALGS}
        },
        "credential_metadata": {
            "display": [
                {
                    "name": credential_type.display.name.get(locale),
                    "locale": locale,
                    "description": credential_type.display.description.get(locale),
                }
                for locale in ("zh-CN", "en")
            ],
            "claims": [
                {
                    "path": claim.path.split("."),
                    "mandatory": claim.required,
                    "display": _display(claim.label),
                }
                for claim in credential_type.all_claims()
            ],
        },
    }


def authorization_server_metadata(base_url: str) -> dict[str, Any]:
    return {
        "issuer": base_url,
        "token_endpoint": base_url + TOKEN_PATH,
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "pre-authorized_grant_anonymous_access_supported": True,
        "token_endpoint_auth_methods_supported": ["none"],
        "dpop_signing_alg_values_supported": DPOP_SIGNING_ALGS,
        "response_types_supported": [],
    }


def jwt_vc_issuer_metadata(base_url: str) -> dict[str, Any]:
    """SD-JWT VC issuer metadata (``/.well-known/jwt-vc-issuer``)."""
    return {"issuer": base_url, "jwks_uri": base_url + JWKS_PATH}


def _display(text: LocalizedText) -> list[dict[str, str]]:
    return [{"name": text.get(locale), "locale": locale} for locale in ("zh-CN", "en")]
