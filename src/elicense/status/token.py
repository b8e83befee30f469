"""Status List Tokens (IETF Token Status List): build and sign the JWT and CWT forms (pure).

* JWT form: a JWS with header ``typ: statuslist+jwt`` and claims ``sub`` (the list's
  URI), ``iat``, ``exp``, ``ttl`` and ``status_list`` (``{"bits", "lst"}``, ``lst``
  base64url). Signed with :func:`elicense.crypto.jws.sign_compact`.
* CWT form: a COSE_Sign1 (:mod:`elicense.crypto.cose`) whose protected header carries
  ``alg``, ``kid`` and ``typ`` (16) ``application/statuslist+cwt``, and whose payload is
  the CBOR map ``{2: sub, 6: iat, 4: exp, 65534: ttl, 65533: status_list}``.

Verification lives in :mod:`elicense.status.check`.
"""

from __future__ import annotations

import dataclasses
import enum

import cbor2

from elicense.crypto import _json, cose, jws
from elicense.crypto.keystore import Signer
from elicense.status.token_status_list import Compression, StatusList

JWT_TYP = "statuslist+jwt"
JWT_MEDIA_TYPE = "application/statuslist+jwt"
CWT_MEDIA_TYPE = "application/statuslist+cwt"

CWT_SUB = 2
CWT_EXP = 4
CWT_IAT = 6
CWT_TTL = 65534
CWT_STATUS_LIST = 65533


class TokenForm(enum.StrEnum):
    """The two serialisations of a Status List Token."""

    JWT = "jwt"
    CWT = "cwt"

    @property
    def media_type(self) -> str:
        return JWT_MEDIA_TYPE if self is TokenForm.JWT else CWT_MEDIA_TYPE


@dataclasses.dataclass(frozen=True, slots=True)
class TokenClaims:
    """The claims of a Status List Token other than the list itself."""

    uri: str
    iat: int
    exp: int
    ttl: int


def sign_jwt(
    status_list: StatusList,
    claims: TokenClaims,
    signer: Signer,
    *,
    compression: Compression = Compression.RLE,
) -> str:
    """The signed JWT-form Status List Token (compact JWS)."""
    payload = {
        "sub": claims.uri,
        "iat": claims.iat,
        "exp": claims.exp,
        "ttl": claims.ttl,
        "status_list": status_list.to_jwt_claim(compression),
    }
    return jws.sign_compact({"typ": JWT_TYP}, _json.dumps(payload), signer)


def sign_cwt(
    status_list: StatusList,
    claims: TokenClaims,
    signer: Signer,
    *,
    compression: Compression = Compression.RLE,
) -> bytes:
    """The signed CWT-form Status List Token (tagged COSE_Sign1)."""
    payload = {
        CWT_SUB: claims.uri,
        CWT_IAT: claims.iat,
        CWT_EXP: claims.exp,
        CWT_TTL: claims.ttl,
        CWT_STATUS_LIST: status_list.to_cwt_claim(compression),
    }
    return cose.sign1(cbor2.dumps(payload), signer, protected={cose.TYP: CWT_MEDIA_TYPE})


def sign(form: TokenForm, status_list: StatusList, claims: TokenClaims, signer: Signer) -> bytes:
    """The token in ``form`` as bytes (the JWT's ASCII, or the CWT's CBOR)."""
    if form is TokenForm.JWT:
        return sign_jwt(status_list, claims, signer).encode("ascii")
    return sign_cwt(status_list, claims, signer)
