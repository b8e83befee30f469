"""Credential formats the issuer can sign, behind one small protocol.

``dc+sd-jwt`` (SD-JWT VC) today; ISO mdoc and the offline QR form plug in here later by
adding an implementation to :data:`FORMATS` — the service and the metadata only speak to
:class:`CredentialFormat`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, Protocol

from elicense.catalog.model import CredentialType
from elicense.crypto.keystore import Signer
from elicense.errors import UnknownCredentialConfiguration
from elicense.formats import sd_jwt_vc


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialInput:
    """Everything a format needs to sign one credential."""

    credential_type: CredentialType
    issuer: str
    claims: Mapping[str, Any]
    holder_jwk: Mapping[str, str]
    status_uri: str
    status_idx: int
    issued_at: int
    expires_at: int


class CredentialFormat(Protocol):
    """One credential format: its metadata members and how to sign a credential."""

    @property
    def format_id(self) -> str: ...

    def configuration_metadata(self, credential_type: CredentialType) -> dict[str, Any]:
        """Format-specific members of the credential configuration (e.g. ``vct``)."""
        ...

    def issue(self, signer: Signer, data: CredentialInput) -> str:
        """The signed credential as sent in the Credential Response."""
        ...


class SdJwtVcFormat:
    """``dc+sd-jwt``: an SD-JWT VC, every catalogue ``sd`` claim selectively disclosable."""

    format_id = sd_jwt_vc.TYP

    def configuration_metadata(self, credential_type: CredentialType) -> dict[str, Any]:
        return {"format": self.format_id, "vct": credential_type.vct}

    def issue(self, signer: Signer, data: CredentialInput) -> str:
        issued = sd_jwt_vc.issue_credential(
            signer=signer,
            issuer=data.issuer,
            vct=data.credential_type.vct,
            claims=data.claims,
            selectively_disclosable=disclosable_paths(data.credential_type, data.claims),
            holder_jwk=data.holder_jwk,
            expires_at=data.expires_at,
            issued_at=data.issued_at,
            status=sd_jwt_vc.StatusReference(uri=data.status_uri, idx=data.status_idx),
            include_x5c=False,  # verifiers resolve the key by kid (JWKS or trust list)
        )
        return issued.serialize()


def disclosable_paths(
    credential_type: CredentialType, claims: Mapping[str, Any]
) -> list[tuple[str, ...]]:
    """The catalogue's selectively disclosable claim paths that ``claims`` contains."""
    return [path for path in _disclosable(credential_type) if _present(claims, path)]


@functools.cache
def _disclosable(credential_type: CredentialType) -> tuple[tuple[str, ...], ...]:
    """Every selectively disclosable claim path of a type (types are immutable)."""
    return tuple(
        tuple(claim.path.split("."))
        for claim in credential_type.all_claims()
        if claim.selectively_disclosable
    )


def _present(claims: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = claims
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return False
        node = node[step]
    return True


FORMATS: dict[str, CredentialFormat] = {SdJwtVcFormat.format_id: SdJwtVcFormat()}


def format_for(credential_type: CredentialType) -> CredentialFormat:
    """The format a type is issued in (its first catalogue format we implement)."""
    for name in credential_type.formats:
        if name in FORMATS:
            return FORMATS[name]
    raise UnknownCredentialConfiguration(f"no supported format for {credential_type.id}")
