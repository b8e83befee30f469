"""One exception tree for eLicense, with stable codes.

Every error the platform raises on purpose is an :class:`ELicenseError`. Each subclass
carries a stable ``code`` (never reworded: clients and tests match on it), an HTTP
``status`` for problem+json responses, and, where a protocol defines one, the
``protocol_error`` value (OpenID4VCI / OpenID4VP ``error``) it maps onto.

Raise the most specific class; pass a ``code`` only to refine a class's default code
(e.g. ``InvalidToken("...", code="kb_jwt_wrong_nonce")``). Messages are for people and
must never contain personal data or biometric values.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ELicenseError(Exception):
    """Base of every deliberate eLicense error."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    protocol_error: ClassVar[str | None] = None
    title: ClassVar[str] = "Internal error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.instance_code = code or type(self).code
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem+json body for this error."""
        body: dict[str, Any] = {
            "type": f"urn:elicense:error:{self.instance_code}",
            "title": self.title,
            "status": self.status,
            "detail": self.message,
            "code": self.instance_code,
        }
        body.update(self.extra)
        return body

    def to_json(self) -> dict[str, Any]:
        """``{"error": {"code": ..., "message": ...}}`` as printed by the CLI."""
        return {"error": {"code": self.instance_code, "message": self.message}}


# --- input and configuration -------------------------------------------------------


class ConfigError(ELicenseError):
    code = "config_invalid"
    status = 500
    title = "Invalid configuration"


class ValidationFailed(ELicenseError):
    code = "validation_failed"
    status = 422
    title = "Invalid input"
    protocol_error = "invalid_request"


class NotFound(ELicenseError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(ELicenseError):
    code = "conflict"
    status = 409
    title = "Conflict"


class Unauthorized(ELicenseError):
    code = "unauthorized"
    status = 401
    title = "Unauthorized"
    protocol_error = "invalid_token"


class Forbidden(ELicenseError):
    code = "forbidden"
    status = 403
    title = "Forbidden"
    protocol_error = "access_denied"


class RateLimited(ELicenseError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"


class Unavailable(ELicenseError):
    code = "unavailable"
    status = 503
    title = "Service unavailable"


class StorageError(Unavailable):
    code = "storage_unavailable"
    title = "Database unavailable"


# --- cryptography and credentials ----------------------------------------------------


class CryptoError(ELicenseError):
    code = "crypto_error"
    status = 400
    title = "Cryptographic failure"


class KeyNotFound(CryptoError):
    code = "key_not_found"


class UnsupportedAlgorithm(CryptoError):
    code = "unsupported_algorithm"


class InvalidSignature(CryptoError):
    code = "invalid_signature"


class InvalidToken(ELicenseError):
    """A token (JWS, SD-JWT, KB-JWT, status list, ...) failed a check."""

    code = "invalid_token"
    status = 400
    title = "Invalid token"
    protocol_error = "invalid_request"


class TokenTooLarge(InvalidToken):
    code = "token_too_large"


class UntrustedIssuer(InvalidToken):
    code = "untrusted_issuer"


class TokenExpired(InvalidToken):
    code = "expired"


class TokenNotYetValid(InvalidToken):
    code = "not_yet_valid"


class InvalidDisclosure(InvalidToken):
    code = "invalid_disclosure"


class KeyBindingError(InvalidToken):
    code = "key_binding_invalid"


class CredentialRevoked(InvalidToken):
    code = "credential_revoked"


class CredentialSuspended(InvalidToken):
    code = "credential_suspended"


class StatusUnavailable(InvalidToken):
    code = "status_unavailable"


# --- identity proofing -----------------------------------------------------------------


class ProofingError(ELicenseError):
    code = "proofing_failed"
    status = 422
    title = "Identity proofing failed"


class BadImage(ProofingError):
    code = "bad_image"
    status = 400
    title = "Unusable image"


class FaceQualityError(ProofingError):
    code = "face_quality"
    title = "Face image quality too low"


class LivenessFailed(ProofingError):
    code = "liveness_failed"


class FaceMismatch(ProofingError):
    code = "face_mismatch"


class IdentityLocked(ProofingError):
    code = "identity_locked"
    status = 423
    title = "Identity locked"


# --- OpenID4VP (verifier and wallet) ---------------------------------------------------


class InvalidRequest(ValidationFailed):
    """An OpenID4VP request or response is malformed (``invalid_request``)."""

    code = "invalid_request"
    status = 400
    title = "Invalid request"
    protocol_error = "invalid_request"


class VpFormatsNotSupported(InvalidRequest):
    code = "vp_formats_not_supported"
    protocol_error = "vp_formats_not_supported"


class InvalidRequestUriMethod(InvalidRequest):
    code = "invalid_request_uri_method"
    protocol_error = "invalid_request_uri_method"


class AccessDenied(Forbidden):
    """A relying party asks for more than it may, or the holder refused consent."""

    code = "access_denied"
    protocol_error = "access_denied"


class UntrustedVerifier(InvalidToken):
    """A request object whose signer does not chain to the platform RP CA."""

    code = "untrusted_verifier"
    protocol_error = "invalid_request"


class Gone(ELicenseError):
    """Something that existed once and is no longer available (fetched, expired)."""

    code = "gone"
    status = 410
    title = "Gone"


# --- issuance (OpenID4VCI 1.0, RFC 6749 / RFC 9449) ------------------------------------


class IssuanceError(ELicenseError):
    """An OpenID4VCI / OAuth error; ``protocol_error`` is the ``error`` value sent."""

    code = "invalid_request"
    status = 400
    title = "Invalid issuance request"
    protocol_error = "invalid_request"


class InvalidGrant(IssuanceError):
    code = "invalid_grant"
    protocol_error = "invalid_grant"


class UnsupportedGrantType(IssuanceError):
    code = "unsupported_grant_type"
    protocol_error = "unsupported_grant_type"


class InvalidDpopProof(IssuanceError):
    code = "invalid_dpop_proof"
    protocol_error = "invalid_dpop_proof"


class InvalidAccessToken(IssuanceError):
    code = "access_token_invalid"
    status = 401
    title = "Invalid access token"
    protocol_error = "invalid_token"


class InvalidCredentialRequest(IssuanceError):
    code = "invalid_credential_request"
    protocol_error = "invalid_credential_request"


class UnknownCredentialConfiguration(IssuanceError):
    code = "unknown_credential_configuration"
    protocol_error = "unknown_credential_configuration"


class InvalidProof(IssuanceError):
    code = "invalid_proof"
    protocol_error = "invalid_proof"


class InvalidNonce(IssuanceError):
    code = "invalid_nonce"
    protocol_error = "invalid_nonce"


class CredentialRequestDenied(IssuanceError):
    code = "credential_request_denied"
    status = 403
    title = "Credential request denied"
    protocol_error = "credential_request_denied"


class InvalidNotificationId(IssuanceError):
    code = "invalid_notification_id"
    protocol_error = "invalid_notification_id"


class InvalidNotificationRequest(IssuanceError):
    code = "invalid_notification_request"
    protocol_error = "invalid_notification_request"


class InvalidHolderAuth(IssuanceError):
    """A ``holder-auth+jwt`` failed: the wallet did not prove possession of a key bound to a
    credential we issued (``invalid_token``, 401). Refined codes: ``holder_auth_missing``,
    ``…_malformed``, ``…_typ``, ``…_alg``, ``…_key``, ``…_signature``, ``…_aud``,
    ``…_iat``, ``…_jti``, ``…_nonce``, ``…_unknown_key``, ``…_ambiguous_key``."""

    code = "holder_auth"
    status = 401
    title = "Holder authentication failed"
    protocol_error = "invalid_token"
