"""Generate the named negative SD-JWT VC vectors in this directory.

Run ``.venv/bin/python tests/vectors/sd_jwt_vc_negative/generate.py`` to rewrite them.
Keys are generated fresh on each run and only their *public* halves are written
(``trust.json``); nothing here is secret. Every vector is a presentation of one
marriage license, changed by exactly one mutation, re-signed with the issuer's (or the
holder's) key where the mutation needs a valid signature, so that the one rule the
file is named after is the rule that rejects it. ``manifest.json`` records, for each
file, the expected error code, the nonce/audience to verify with and the RFC section.

Signatures are made here with ``cryptography`` directly, not with eLicense's JWS code,
so the vectors do not depend on the code they test (the baseline credential itself is
issued by eLicense and checked by the tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from elicense import clock
from elicense.crypto import x509 as x509_chain
from elicense.crypto.jwk import public_jwk, thumbprint
from elicense.crypto.keystore import LocalSigner
from elicense.formats import sd_jwt_vc

GENERATED_AT = 1767225600  # 2026-01-01T00:00:00Z; verify at GENERATED_AT + 60
ISSUER = "https://civil-affairs.example.gov.cn"
VCT = "https://credentials.example.gov.cn/marriage_license"
NONCE = "n-0S6_WzA2Mj"
AUD = "https://bank.example.com"
HERE = Path(__file__).resolve().parent

CLAIMS: dict[str, Any] = {
    "license_number": "ML-2025-000123",
    "given_name": "Li",
    "family_name": "Wei",
    "birthdate": "1990-02-03",
    "spouse_given_name": "Zhang",
    "spouse_family_name": "Min",
    "marriage_date": "2025-10-01",
    "registration_office": "Dongcheng District Civil Affairs Bureau",
    "nationalities": ["CN", "HK"],
}
SD_PATHS = [(k,) for k in CLAIMS if k != "license_number"] + [("nationalities", None)]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def es256(key: ec.EllipticCurvePrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def sd_hash(presentation: str) -> str:
    return b64(hashlib.sha256(presentation.encode()).digest())


def disclosure(*items: Any) -> str:
    return b64json(list(items))


def digest(encoded: str) -> str:
    return sd_hash(encoded)


class Builder:
    """The baseline credential and the keys to forge each mutation with."""

    def __init__(self) -> None:
        self.issuer_key = ec.generate_private_key(ec.SECP256R1())
        self.holder_key = ec.generate_private_key(ec.SECP256R1())
        self.attacker_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_key, self.ca_cert = x509_chain.create_issuing_ca("Example Civil Affairs CA")
        self.kid = thumbprint(public_jwk(self.issuer_key))
        issued = sd_jwt_vc.issue_credential(
            signer=LocalSigner(self.issuer_key),
            issuer=ISSUER,
            vct=VCT,
            claims=CLAIMS,
            selectively_disclosable=SD_PATHS,
            holder_jwk=public_jwk(self.holder_key),
            expires_at=GENERATED_AT + 365 * 86400,
            status=sd_jwt_vc.StatusReference("https://status.example.gov.cn/lists/1", 42),
        )
        self.jwt = issued.jwt
        self.disclosures = [d.encoded for d in issued.disclosures]
        header, payload, _ = self.jwt.split(".")
        self.header: dict[str, Any] = json.loads(unb64(header))
        self.payload: dict[str, Any] = json.loads(unb64(payload))

    def trust(self) -> dict[str, Any]:
        jwk = {**public_jwk(self.issuer_key), "kid": self.kid, "alg": "ES256", "use": "sig"}
        anchor = x509_chain.to_x5c([self.ca_cert])[0]
        return {"issuers": [{"iss": ISSUER, "jwks": {"keys": [jwk]}, "x5c_anchors": [anchor]}]}

    def resign(self, payload: dict[str, Any], **header: Any) -> str:
        return es256(self.issuer_key, {**self.header, **header}, payload)

    def kb(
        self, presentation: str, key: ec.EllipticCurvePrivateKey | None = None, **changes: Any
    ) -> str:
        header = {"alg": "ES256", "typ": changes.pop("typ", "kb+jwt")}
        payload = {
            "iat": GENERATED_AT,
            "aud": AUD,
            "nonce": NONCE,
            "sd_hash": sd_hash(presentation),
        }
        payload.update(changes)
        return es256(key or self.holder_key, header, payload)

    def present(self, jwt: str | None = None, disclosures: list[str] | None = None) -> str:
        chosen = self.disclosures if disclosures is None else disclosures
        return "~".join([jwt or self.jwt, *chosen, ""])

    def bound(self, jwt: str | None = None, disclosures: list[str] | None = None, **kb: Any) -> str:
        presentation = self.present(jwt, disclosures)
        return presentation + self.kb(presentation, **kb)


Mutation = Callable[[Builder], str]
MUTATIONS: dict[str, tuple[str, str, bool, Mutation]] = {}


def mutation(
    code: str, section: str, *, key_binding: bool = False
) -> Callable[[Mutation], Mutation]:
    def register(fn: Mutation) -> Mutation:
        MUTATIONS[fn.__name__] = (code, section, key_binding, fn)
        return fn

    return register


# --- the Issuer-signed JWT: algorithm, key and signature ---------------------------


@mutation("jws_alg_not_allowed", "RFC 9901 7.1 step 2.1 (none MUST NOT be accepted)")
def alg_none(b: Builder) -> str:
    return b.present(f"{b64json({**b.header, 'alg': 'none'})}.{b64json(b.payload)}.")


@mutation("jws_alg_not_allowed", "RFC 8725 3.1/3.2; HS256 keyed with the issuer public key")
def alg_hs256_keyed_with_issuer_public_key(b: Builder) -> str:
    pem = b.issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json({**b.header, 'alg': 'HS256'})}.{b64json(b.payload)}"
    tag = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return b.present(f"{signing_input}.{b64(tag)}")


@mutation("header_key_not_trusted", "SD-JWT VC 3.5 (issuer key from trust list only)")
def header_jwk_injected(b: Builder) -> str:
    header = {**b.header, "jwk": public_jwk(b.attacker_key)}
    header.pop("kid")
    return b.present(es256(b.attacker_key, header, b.payload))


@mutation("header_key_not_trusted", "SD-JWT VC 3.5 (issuer key from trust list only)")
def header_jku_injected(b: Builder) -> str:
    header = {**b.header, "jku": "https://attacker.example/jwks.json"}
    return b.present(es256(b.attacker_key, header, b.payload))


@mutation("x5c_not_trusted", "SD-JWT VC 3.5 (x5c must chain to a configured anchor)")
def header_x5c_self_signed(b: Builder) -> str:
    ca_key, ca_cert = x509_chain.create_issuing_ca("Attacker CA")
    leaf = x509_chain.issue_document_signer(
        ca_key, ca_cert, b.attacker_key.public_key(), issuer_url=ISSUER
    )
    header = {**b.header, "x5c": list(x509_chain.to_x5c([leaf, ca_cert]))}
    return b.present(es256(b.attacker_key, header, b.payload))


@mutation("unknown_kid", "RFC 9901 7.1 step 2.3 (key belongs to the issuer)")
def kid_unknown(b: Builder) -> str:
    return b.present(
        es256(
            b.attacker_key, {**b.header, "kid": thumbprint(public_jwk(b.attacker_key))}, b.payload
        )
    )


@mutation("untrusted_issuer", "RFC 9901 7.1 step 2.3 (validate the issuer)")
def issuer_not_in_trust_list(b: Builder) -> str:
    return b.present(
        es256(b.attacker_key, b.header, {**b.payload, "iss": "https://attacker.example"})
    )


@mutation("jws_bad_signature", "RFC 9901 7.1 step 2.2 (validate the signature)")
def signature_bit_flipped(b: Builder) -> str:
    head, body, sig = b.jwt.split(".")
    raw = bytearray(unb64(sig))
    raw[10] ^= 0x01
    return b.present(f"{head}.{body}.{b64(bytes(raw))}")


@mutation("jws_bad_signature_length", "RFC 7518 3.4 (R || S, 64 octets for ES256)")
def signature_der_encoded(b: Builder) -> str:
    head, body, _ = b.jwt.split(".")
    der = b.issuer_key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    return b.present(f"{head}.{body}.{b64(der)}")


@mutation("jws_bad_signature_length", "RFC 7518 3.4 (R || S, 64 octets for ES256)")
def signature_overlong(b: Builder) -> str:
    head, body, sig = b.jwt.split(".")
    longer = b64(unb64(sig) + bytes(1))
    return b.present(f"{head}.{body}.{longer}")


@mutation("jws_wrong_typ", "SD-JWT VC 3.2.1 (typ dc+sd-jwt)")
def typ_not_dc_sd_jwt(b: Builder) -> str:
    return b.present(b.resign(b.payload, typ="JWT"))


@mutation("token_too_large", "RFC 9901 9 (resource limits); eLicense size caps")
def token_oversized(b: Builder) -> str:
    padding = disclosure("salt-salt-salt-salt", "x", "A" * 3000)
    return b.present(disclosures=b.disclosures + [padding] * 17)


# --- disclosures ----------------------------------------------------------------------


@mutation("sd_jwt_unreferenced_disclosure", "RFC 9901 7.1 step 5")
def disclosure_unreferenced(b: Builder) -> str:
    return b.present(
        disclosures=[*b.disclosures, disclosure("c2FsdHNhbHRzYWx0", "given_name", "Mallory")]
    )


@mutation("sd_jwt_duplicate_disclosure", "RFC 9901 7.1 step 4")
def disclosure_repeated(b: Builder) -> str:
    return b.present(disclosures=[*b.disclosures, b.disclosures[0]])


@mutation("sd_jwt_duplicate_digest", "RFC 9901 7.1 step 4")
def digest_twice_in_sd(b: Builder) -> str:
    payload = {**b.payload, "_sd": [*b.payload["_sd"], b.payload["_sd"][0]]}
    return b.present(b.resign(payload))


@mutation("sd_jwt_duplicate_digest", "RFC 9901 7.1 step 4")
def digest_in_sd_and_array(b: Builder) -> str:
    # the given_name digest, also placed as an array element; given_name stays undisclosed
    payload = {**b.payload, "extra": [{"...": digest(b.disclosures[0])}]}
    return b.present(b.resign(payload), b.disclosures[1:])


def _with_extra_disclosure(b: Builder, encoded: str) -> str:
    payload = {**b.payload, "_sd": sorted([*b.payload["_sd"], digest(encoded)])}
    return b.present(b.resign(payload), [*b.disclosures, encoded])


@mutation("disclosure_reserved_name", "RFC 9901 7.1 step 3.3.2.2 (_sd)")
def disclosure_named_sd(b: Builder) -> str:
    return _with_extra_disclosure(b, disclosure("c2FsdHNhbHRzYWx0", "_sd", ["x"]))


@mutation("disclosure_reserved_name", "RFC 9901 7.1 step 3.3.2.2 (...)")
def disclosure_named_ellipsis(b: Builder) -> str:
    return _with_extra_disclosure(b, disclosure("c2FsdHNhbHRzYWx0", "...", "x"))


@mutation("disclosure_overwrites_claim", "RFC 9901 7.1 step 3.3.2.4")
def disclosure_overwrites_claim(b: Builder) -> str:
    return _with_extra_disclosure(b, disclosure("c2FsdHNhbHRzYWx0", "license_number", "ML-0"))


@mutation("disclosure_bad_base64", "RFC 9901 4.2.1 (base64url)")
def disclosure_bad_base64(b: Builder) -> str:
    return _with_extra_disclosure(b, "WyJzYWx0Iiwi*GlzdCJd")


@mutation("disclosure_not_json", "RFC 9901 4.2.1 (JSON array)")
def disclosure_not_json(b: Builder) -> str:
    return _with_extra_disclosure(b, b64(b'["salt", "given_name", '))


@mutation("disclosure_wrong_arity", "RFC 9901 7.1 step 3.3.2.1 (three elements)")
def disclosure_wrong_arity(b: Builder) -> str:
    return _with_extra_disclosure(b, disclosure("c2FsdHNhbHRzYWx0", "given_name", "Li", "extra"))


@mutation("sd_jwt_unknown_sd_alg", "RFC 9901 7.1 step 2.4")
def sd_alg_unknown(b: Builder) -> str:
    return b.present(b.resign({**b.payload, "_sd_alg": "md5"}))


# --- validity and SD-JWT VC rules -----------------------------------------------------


@mutation("expired", "RFC 9901 7.1 step 6; RFC 7519 4.1.4")
def exp_in_past(b: Builder) -> str:
    return b.present(b.resign({**b.payload, "exp": GENERATED_AT - 3600}))


@mutation("not_yet_valid", "RFC 9901 7.1 step 6; RFC 7519 4.1.5")
def nbf_in_future(b: Builder) -> str:
    return b.present(b.resign({**b.payload, "nbf": GENERATED_AT + 86400}))


@mutation("missing_exp", "RFC 9901 7.1 step 6 (required validity claim missing)")
def exp_missing(b: Builder) -> str:
    payload = {k: v for k, v in b.payload.items() if k != "exp"}
    return b.present(b.resign(payload))


def _hide_claim(b: Builder, name: str) -> str:
    encoded = disclosure("c2FsdHNhbHRzYWx0", name, b.payload[name])
    payload = {k: v for k, v in b.payload.items() if k != name}
    payload["_sd"] = sorted([*b.payload["_sd"], digest(encoded)])
    return b.present(b.resign(payload), [*b.disclosures, encoded])


@mutation("vc_claim_disclosed", "SD-JWT VC 3.2.2.2 (exp not selectively disclosable)")
def exp_hidden_as_disclosure(b: Builder) -> str:
    return _hide_claim(b, "exp")


@mutation("vc_claim_disclosed", "SD-JWT VC 3.2.2.2 (cnf not selectively disclosable)")
def cnf_hidden_as_disclosure(b: Builder) -> str:
    return _hide_claim(b, "cnf")


# --- key binding (all verified with the nonce and audience in the manifest) ----------


@mutation("kb_jwt_missing", "RFC 9901 7.3 step 1", key_binding=True)
def kb_jwt_missing(b: Builder) -> str:
    return b.present()


@mutation("kb_jwt_bad_signature", "RFC 9901 7.3 step 3.4", key_binding=True)
def kb_jwt_signature_flipped(b: Builder) -> str:
    token = b.bound()
    head, body, sig = token.rsplit("~", 1)[1].split(".")
    raw = bytearray(unb64(sig))
    raw[5] ^= 0x80
    return token.rsplit("~", 1)[0] + "~" + f"{head}.{body}.{b64(bytes(raw))}"


@mutation("kb_jwt_bad_signature", "RFC 9901 7.3 step 3.2 (key from cnf)", key_binding=True)
def kb_jwt_signed_by_other_key(b: Builder) -> str:
    return b.bound(key=b.attacker_key)


@mutation("kb_jwt_wrong_typ", "RFC 9901 7.3 step 3.5", key_binding=True)
def kb_jwt_wrong_typ(b: Builder) -> str:
    return b.bound(typ="JWT")


@mutation("kb_jwt_wrong_nonce", "RFC 9901 7.3 step 3.7", key_binding=True)
def kb_jwt_wrong_nonce(b: Builder) -> str:
    return b.bound(nonce="another-nonce")


@mutation("kb_jwt_nonce_reused", "RFC 9901 7.3 step 3.7 (replay)", key_binding=True)
def kb_jwt_reused_nonce(b: Builder) -> str:
    return b.bound()


@mutation("kb_jwt_wrong_aud", "RFC 9901 7.3 step 3.7", key_binding=True)
def kb_jwt_wrong_aud(b: Builder) -> str:
    return b.bound(aud="https://attacker.example")


@mutation("kb_jwt_iat_too_old", "RFC 9901 7.3 step 3.6", key_binding=True)
def kb_jwt_iat_year_old(b: Builder) -> str:
    return b.bound(iat=GENERATED_AT - 365 * 86400)


@mutation("kb_jwt_iat_in_future", "RFC 9901 7.3 step 3.6", key_binding=True)
def kb_jwt_iat_in_future(b: Builder) -> str:
    return b.bound(iat=GENERATED_AT + 3600)


@mutation("kb_jwt_wrong_sd_hash", "RFC 9901 7.3 step 3.8 (disclosure added)", key_binding=True)
def kb_jwt_disclosure_added_after_signing(b: Builder) -> str:
    presentation = b.present(disclosures=b.disclosures[:2])
    return b.present(disclosures=b.disclosures[:3]) + b.kb(presentation)


@mutation("kb_jwt_wrong_sd_hash", "RFC 9901 7.3 step 3.8 (disclosure removed)", key_binding=True)
def kb_jwt_disclosure_removed_after_signing(b: Builder) -> str:
    presentation = b.present(disclosures=b.disclosures[:3])
    return b.present(disclosures=b.disclosures[:2]) + b.kb(presentation)


def generate(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Write every vector, ``trust.json`` and ``manifest.json`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with clock.frozen(GENERATED_AT):
        builder = Builder()
        (out_dir / "trust.json").write_text(json.dumps(builder.trust(), indent=2) + "\n")
        (out_dir / "valid_presentation_kb.txt").write_text(builder.bound() + "\n")
        manifest: dict[str, dict[str, Any]] = {}
        for name, (code, section, key_binding, fn) in MUTATIONS.items():
            (out_dir / f"{name}.txt").write_text(fn(builder) + "\n")
            entry: dict[str, Any] = {"code": code, "section": section}
            if key_binding or name.startswith("kb_"):
                entry |= {"nonce": NONCE, "aud": AUD}
            manifest[name] = entry
    manifest["kb_jwt_reused_nonce"]["replayed"] = True
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
