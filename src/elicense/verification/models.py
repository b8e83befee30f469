"""Tables owned by the verification part.

* ``verification_rps`` — registered relying parties: name, unified social credit code,
  sector, region, client host and OpenID4VP ``client_id``, grants (JSON), the access
  certificate (PEM) and its private key sealed at rest, the API secret's SHA-256 (the
  secret is 256 random bits, shown once), an optional webhook URL.
* ``verification_requests`` — one OpenID4VP request: its single-use ``nonce``
  (unique), purpose, DCQL query, response mode, the sealed ephemeral decryption key for
  ``direct_post.jwt``, ``state`` (``pending`` → ``verified``/``rejected``), the result
  (checks and disclosed values, sealed) until it is fetched or ``result_expires_at``
  passes.
* ``verification_request_objects`` — the signed request object of each request (what
  ``request_uri`` serves), apart from its request row: the response path rewrites that
  row, and SQLite rewrites a row whole, so a request object of several KB (certificate
  chain, registration) in it would be rewritten (and its overflow pages re-chained)
  with every response.
* ``verification_webhook_deliveries`` — one per result for an RP with a webhook,
  written in the transaction that records the result: the URL, the result sealed (until
  it is delivered or given up), ``state`` (``pending`` → ``delivered`` / ``failed``
  after the last attempt / ``expired`` at the result's retention), attempts, when the
  next one is due (also the lease of the worker that claimed it), the last error's code.
  Its ``id`` is the idempotency id the RP dedupes on (``jti``).
* ``verification_history`` — one row per verification for the citizen's history: RP,
  credential types, claim *names* (never values), outcome and code, and the holder key
  thumbprint the wallet can look its history up by.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from elicense.storage.base import Base


class RelyingParty(Base):
    __tablename__ = "verification_rps"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    sector: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(6))
    client_host: Mapped[str] = mapped_column(String(253), unique=True)
    client_id: Mapped[str] = mapped_column(String(300), unique=True)
    grants: Mapped[list[Any]] = mapped_column(JSON)
    certificate_pem: Mapped[str] = mapped_column(Text)
    access_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]


class VerificationRequest(Base):
    __tablename__ = "verification_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rp_id: Mapped[str] = mapped_column(ForeignKey("verification_rps.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(64))
    dcql_query: Mapped[dict[str, Any]] = mapped_column(JSON)
    response_mode: Mapped[str] = mapped_column(String(20))
    decryption_key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    result_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]
    result_expires_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    fetched_at: Mapped[dt.datetime | None]


class VerificationRequestObject(Base):
    __tablename__ = "verification_request_objects"

    request_id: Mapped[str] = mapped_column(
        # Named: the naming convention's name would exceed PostgreSQL's 63 characters.
        ForeignKey("verification_requests.id", name="fk_verification_request_objects_request_id"),
        primary_key=True,
    )
    request_object: Mapped[str] = mapped_column(Text)


class VerificationHistory(Base):
    __tablename__ = "verification_history"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), index=True)
    rp_id: Mapped[str] = mapped_column(String(40), index=True)
    rp_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(64))
    credential_types: Mapped[list[Any]] = mapped_column(JSON)
    claim_names: Mapped[list[Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    holder_thumbprint: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime]


class VerificationWebhookDelivery(Base):
    __tablename__ = "verification_webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey(
            "verification_requests.id", name="fk_verification_webhook_deliveries_request_id"
        ),
        unique=True,
    )
    rp_id: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(500))
    body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(index=True)
    expires_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
