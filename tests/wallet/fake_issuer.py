"""A minimal in-memory OpenID4VCI issuer (as documented in docs/issuance.md) for holder
tests that need to inject faults; the real issuer is exercised in test_wallet_issuer.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from elicense import clock
from elicense.crypto import _json, jws
from elicense.crypto.jwk import load_public_jwk, thumbprint
from elicense.crypto.keystore import LocalSigner
from elicense.formats import sd_jwt_vc
from elicense.wallet import dpop
from elicense.wallet.offer import PRE_AUTHORIZED_GRANT

ISS = "https://issuer.example.gov.cn"
VCT = f"{ISS}/vct/marriage_license"
CONFIG = {
    "format": "dc+sd-jwt",
    "vct": VCT,
    "credential_metadata": {
        "display": [
            {"name": "结婚证", "locale": "zh-CN"},
            {"name": "Marriage License", "locale": "en"},
        ],
        "claims": [
            {
                "path": ["holder", "name"],
                "display": [{"name": "姓名", "locale": "zh-CN"}, {"name": "Name", "locale": "en"}],
            }
        ],
    },
}
ALGS = frozenset({"ES256"})


class FakeIssuer:
    def __init__(self, *, tx_code: str | None = None, dpop_nonce: str | None = None) -> None:
        self.signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        self.code = "pre-code-1"
        self.tx_code = tx_code
        self.dpop_nonce = dpop_nonce
        self.nonces: set[str] = set()
        self.tokens: dict[str, str] = {}
        self.answered: dict[bytes, dict[str, Any]] = {}
        self.issued = 0
        self.log: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.fault: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.tamper = False

    def offer(self) -> dict[str, Any]:
        grant: dict[str, Any] = {"pre-authorized_code": self.code}
        if self.tx_code:
            grant["tx_code"] = {"input_mode": "numeric", "length": len(self.tx_code)}
        return {
            "credential_issuer": ISS,
            "credential_configuration_ids": ["marriage_license"],
            "grants": {PRE_AUTHORIZED_GRANT: grant},
        }

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.log.append(f"{request.method} {request.url.path}")
        if self.fault is not None:
            faulty = self.fault(request)
            if faulty is not None:
                return faulty
        routes = {
            "/.well-known/openid-credential-issuer": self.issuer_metadata,
            "/.well-known/oauth-authorization-server": self.as_metadata,
            "/.well-known/jwt-vc-issuer": self.jwt_vc_issuer,
            "/.well-known/jwks.json": self.jwks,
            "/issuance/token": self.token,
            "/issuance/nonce": self.nonce,
            "/issuance/credential": self.credential,
            "/issuance/notification": self.notification,
        }
        return routes.get(request.url.path, lambda r: httpx.Response(404))(request)

    def issuer_metadata(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "credential_issuer": ISS,
                "credential_endpoint": f"{ISS}/issuance/credential",
                "nonce_endpoint": f"{ISS}/issuance/nonce",
                "notification_endpoint": f"{ISS}/issuance/notification",
                "batch_credential_issuance": {"batch_size": 3},
                "credential_configurations_supported": {"marriage_license": CONFIG},
            },
        )

    def as_metadata(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": ISS, "token_endpoint": f"{ISS}/issuance/token"})

    def jwt_vc_issuer(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": ISS, "jwks_uri": f"{ISS}/.well-known/jwks.json"})

    def jwks(self, _: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"keys": [{**self.signer.public_jwk, "kid": self.signer.kid}]}
        )

    def _dpop(self, request: httpx.Request, token: str | None) -> str | httpx.Response:
        proof = jws.decode_compact(request.headers["dpop"])
        assert proof.header["typ"] == "dpop+jwt"
        jws.verify(proof, load_public_jwk(proof.header["jwk"]), allowed_algs=ALGS)
        claims = _json.loads_object(proof.payload, what="dpop")
        assert claims["htm"] == request.method
        assert claims["htu"] == f"{ISS}{request.url.path}"
        if token is not None:
            assert claims["ath"] == dpop.access_token_hash(token)
        if self.dpop_nonce and claims.get("nonce") != self.dpop_nonce:
            status = 400 if token is None else 401
            headers = {"DPoP-Nonce": self.dpop_nonce}
            if token is not None:
                headers["WWW-Authenticate"] = 'DPoP error="use_dpop_nonce"'
            return httpx.Response(status, json={"error": "use_dpop_nonce"}, headers=headers)
        return thumbprint(proof.header["jwk"])

    def token(self, request: httpx.Request) -> httpx.Response:
        jkt = self._dpop(request, None)
        if isinstance(jkt, httpx.Response):
            return jkt
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["grant_type"] == PRE_AUTHORIZED_GRANT
        if form.get("pre-authorized_code") != self.code or form.get("tx_code") != self.tx_code:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "no"})
        self.code = "used"
        self.tokens["tok-1"] = jkt
        return httpx.Response(200, json={"access_token": "tok-1", "token_type": "DPoP"})

    def nonce(self, _: httpx.Request) -> httpx.Response:
        value = f"n{len(self.nonces)}"
        self.nonces.add(value)
        return httpx.Response(200, json={"c_nonce": value})

    def _authorized(self, request: httpx.Request) -> str | httpx.Response:
        scheme, _, token = request.headers["authorization"].partition(" ")
        assert scheme == "DPoP"
        jkt = self._dpop(request, token)
        if isinstance(jkt, httpx.Response):
            return jkt
        assert self.tokens[token] == jkt
        return token

    def credential(self, request: httpx.Request) -> httpx.Response:
        token = self._authorized(request)
        if isinstance(token, httpx.Response):
            return token
        if request.content in self.answered:
            return httpx.Response(200, json=self.answered[request.content])
        body = json.loads(request.content)
        credentials = []
        for proof_jwt in body["proofs"]["jwt"]:
            proof = jws.decode_compact(proof_jwt)
            assert proof.header["typ"] == "openid4vci-proof+jwt"
            jws.verify(proof, load_public_jwk(proof.header["jwk"]), allowed_algs=ALGS)
            claims = _json.loads_object(proof.payload, what="proof")
            if claims.get("nonce") not in self.nonces:
                return httpx.Response(400, json={"error": "invalid_nonce"})
            if claims.get("aud") != ISS:
                return httpx.Response(
                    400, json={"error": "invalid_proof", "error_description": "aud"}
                )
            credentials.append({"credential": self._issue(proof.header["jwk"])})
        for proof_jwt in body["proofs"]["jwt"]:
            nonce = _json.loads_object(jws.decode_compact(proof_jwt).payload, what="p")["nonce"]
            self.nonces.discard(nonce)
        reply = {"credentials": credentials, "notification_id": "ntf_1"}
        self.answered[request.content] = reply
        return httpx.Response(200, json=reply)

    def _issue(self, holder_jwk: dict[str, Any]) -> str:
        self.issued += 1
        issued = sd_jwt_vc.issue_credential(
            signer=self.signer,
            issuer=ISS,
            vct=VCT,
            claims={"holder": {"name": "张伟"}, "certificate_no": f"J{self.issued}"},
            selectively_disclosable=[("holder", "name"), ("certificate_no",)],
            holder_jwk=holder_jwk,
            expires_at=clock.epoch() + 3600,
        ).serialize()
        if self.tamper:
            head, payload, rest = issued.split(".", 2)
            issued = f"{head}.{payload[:-2]}AA.{rest}"
        return issued

    def notification(self, request: httpx.Request) -> httpx.Response:
        token = self._authorized(request)
        if isinstance(token, httpx.Response):
            return token
        self.notifications.append(json.loads(request.content))
        return httpx.Response(204)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
