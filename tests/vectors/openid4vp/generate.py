"""Generate the named negative OpenID4VP response vectors in this directory.

Run ``.venv/bin/python tests/vectors/openid4vp/generate.py`` to rewrite them. Keys are
generated fresh on each run and only their *public* halves are written (``trust.json``);
nothing here is secret. Every vector is the ``direct_post`` body a wallet sends to the
verifier's response URI (``application/x-www-form-urlencoded``: ``vp_token`` and
``state``, or the encrypted ``response``) answering the ``mortgage`` preset (the region
rule's vector: ``hotel_check_in``), changed by exactly one mutation, so that the one
rule the file is named after is the rule that refuses it. A mutation that needs a valid
signature is signed with the right key (the issuer's, the holder's); the credentials
come from the platform's own issuance format and the presentations from the wallet's
``sd_jwt.present``.

``manifest.json`` records, for each file, the error ``code``, the failing ``check`` (as
the verifier names it in ``extra["checks"]``; ``response`` for the form itself), the
rule's source section and the ``expectation`` (the request being answered) to verify
with. ``status_list.jwt`` is the issuer's signed Status List Token the verifier fetches
from ``STATUS_URI``: the baseline's entry is valid, others are revoked or suspended.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent
_SUPPORT = str(HERE.parents[1] / "verification")  # verification_support, as pytest finds it
if _SUPPORT not in sys.path:
    sys.path.insert(0, _SUPPORT)

from verification_support import (  # noqa: E402
    BASE_URL,
    CATALOG,
    HOTEL_GRANT,
    MARRIAGE,
    MORTGAGE_GRANT,
    RESIDENT,
)

from elicense import clock  # noqa: E402
from elicense.crypto import base64url, jwe  # noqa: E402
from elicense.crypto import x509 as x509_chain  # noqa: E402
from elicense.crypto.keystore import LocalSigner  # noqa: E402
from elicense.crypto.trust import single_issuer  # noqa: E402
from elicense.formats import sd_jwt, sd_jwt_vc  # noqa: E402
from elicense.issuance.formats import (  # noqa: E402
    CredentialInput,
    SdJwtVcFormat,
    disclosable_paths,
)
from elicense.status import token as status_token  # noqa: E402
from elicense.status.token_status_list import Status, StatusList  # noqa: E402
from elicense.verification import dcql, policy  # noqa: E402
from elicense.wallet.openid4vp import Held  # noqa: E402

GENERATED_AT = 1767225600  # 2026-01-01T00:00:00Z; verify at GENERATED_AT + 60
ISSUED_AT = GENERATED_AT - 86400  # the credentials were issued the day before
EXPIRES_AT = ISSUED_AT + 1826 * 86400  # the marriage license's validity, P1826D
STATUS_URI = f"{BASE_URL}/status/lists/sl_openid4vp_vectors"
STATUS_SIZE = 1024
VALID_IDX, REVOKED_IDX, SUSPENDED_IDX, RESIDENT_IDX, EXPIRED_IDX = 3, 7, 11, 12, 13
PRESETS = policy.load_presets(CATALOG)

# The requests being answered (fixed values, as the verifier would have stored them).
BANK: dict[str, Any] = {
    "request_id": "vpr_3f0c9b2e7a514d6e8c1f2a3b4c5d6e7f",
    "client_id": "x509_san_dns:bank.example.com",
    "nonce": "Xq3vT8mZ2kLw9pR4sN6yB1cD5fG7hJ0aE2uI8oK3tQs",
    "purpose": "mortgage",
    "sector": "bank",
    "region": "440300",
    "preset": "mortgage",
    "grants": [MORTGAGE_GRANT.to_json()],
    "response_mode": "direct_post",
}
HOTEL: dict[str, Any] = {
    "request_id": "vpr_8d2e4f6a0b1c3d5e7f9a1b2c3d4e5f60",
    "client_id": "x509_san_dns:hotel.example.cn",
    "nonce": "pL7wQ2eR9tY4uI1oP6aS3dF8gH5jK0lZ2xC7vB4nM9q",
    "purpose": "hotel_check_in",
    "sector": "hotel",
    "region": "330100",
    "preset": "hotel_check_in",
    "grants": [HOTEL_GRANT.to_json()],
    "response_mode": "direct_post",
}
OTHER_VERIFIER = "x509_san_dns:registry.example.gov.cn"


@dataclasses.dataclass(frozen=True)
class Vector:
    """What a mutation produced: the form, and the request it must be verified for."""

    form: dict[str, str]
    expectation: dict[str, Any]


class Builder:
    """The keys, the credentials and the baseline presentation to mutate."""

    def __init__(self) -> None:
        self.issuer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        self.holder = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        self.attacker = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        _, self.ca_cert = x509_chain.create_issuing_ca("Example Civil Affairs CA")
        self.marriage = self.license_at(VALID_IDX)

    # --- keys and lists -------------------------------------------------------------

    def trust(self) -> dict[str, Any]:
        """The trust list as ``elicense keys export-trust`` writes it (public only)."""
        jwk = {**self.issuer.public_jwk, "kid": self.issuer.kid, "alg": "ES256", "use": "sig"}
        return single_issuer(BASE_URL, [jwk], [self.ca_cert]).to_json()

    def status_list(self) -> str:
        entries = StatusList(STATUS_SIZE, 2)
        entries[REVOKED_IDX] = Status.INVALID
        entries[SUSPENDED_IDX] = Status.SUSPENDED
        claims = status_token.TokenClaims(
            uri=STATUS_URI, iat=GENERATED_AT, exp=GENERATED_AT + 30 * 86400, ttl=300
        )
        return status_token.sign_jwt(entries, claims, self.issuer)

    # --- credentials and presentations ----------------------------------------------

    def license_at(self, idx: int, **issue: Any) -> Held:
        """A marriage license of the baseline's claims at status index ``idx``."""
        return self.credential("marriage_license", MARRIAGE, idx, **issue)

    def credential(
        self,
        type_id: str,
        claims: dict[str, Any],
        idx: int,
        *,
        issuer: str = BASE_URL,
        signer: LocalSigner | None = None,
        issued_at: int = ISSUED_AT,
        expires_at: int = EXPIRES_AT,
        status_uri: str = STATUS_URI,
    ) -> Held:
        """A credential as the platform's issuer signs it (``issuance.formats``), held
        by the holder."""
        ctype = CATALOG.get(type_id)
        data = CredentialInput(
            credential_type=ctype,
            issuer=issuer,
            claims=claims,
            holder_jwk=self.holder.public_jwk,
            status_uri=status_uri,
            status_idx=idx,
            issued_at=issued_at,
            expires_at=expires_at,
        )
        raw = SdJwtVcFormat().issue(signer or self.issuer, data)
        return Held(raw, ctype.vct, claims, self.holder)

    def present(
        self,
        held: Held | None = None,
        *,
        expect: dict[str, Any] = BANK,
        paths: tuple[dcql.ClaimPath, ...] | None = None,
        extra: tuple[dcql.ClaimPath, ...] = (),
        drop: tuple[dcql.ClaimPath, ...] = (),
        bound: bool = True,
        **binding: Any,
    ) -> str:
        """The wallet's presentation of ``held`` for ``expect``: the claims at
        ``paths`` (default: those its query asks for) plus ``extra``, less ``drop``, with
        a KB-JWT unless ``bound`` is false; ``binding`` overrides the KB-JWT's
        ``nonce``, ``aud``, ``iat``, ``signer``."""
        held = held or self.marriage
        if paths is None:
            query = PRESETS[expect["preset"]].query.credentials[0]
            paths = dcql.disclosure_paths(query, held.claims)
        chosen = [p for p in (*paths, *extra) if p not in drop]
        key_binding = None
        if bound:
            key_binding = sd_jwt.KeyBindingRequest(
                signer=binding.get("signer", self.holder),
                nonce=binding.get("nonce", expect["nonce"]),
                audience=binding.get("aud", expect["client_id"]),
                iat=binding.get("iat", GENERATED_AT),
            )
        return sd_jwt.present(held.raw, chosen, key_binding=key_binding)

    def form(self, *presentations: str, expect: dict[str, Any] = BANK, **changes: str) -> Vector:
        """The ``direct_post`` form answering ``expect`` with ``presentations``."""
        query_id = changes.pop("query_id", PRESETS[expect["preset"]].query.credentials[0].id)
        vp_token = {query_id: list(presentations or [self.present(expect=expect)])}
        form = {"vp_token": json.dumps(vp_token), "state": expect["request_id"], **changes}
        return Vector(form, expect)


Mutation = Callable[[Builder], Vector]


@dataclasses.dataclass(frozen=True)
class Rule:
    code: str
    check: str
    section: str
    mutation: Mutation


MUTATIONS: dict[str, Rule] = {}


def mutation(code: str, check: str, section: str) -> Callable[[Mutation], Mutation]:
    def register(fn: Mutation) -> Mutation:
        MUTATIONS[fn.__name__] = Rule(code, check, section, fn)
        return fn

    return register


def _flip_signature(jws: str, byte: int) -> str:
    head, body, sig = jws.split(".")
    raw = bytearray(base64url.decode(sig))
    raw[byte] ^= 0x01
    return f"{head}.{body}.{base64url.encode(bytes(raw))}"


# --- the OpenID Foundation's verifier negative cases ---------------------------------


@mutation(
    "jws_bad_signature",
    "issuer_signature",
    "OpenID4VP 1.0 8.6 step 2.1; RFC 9901 7.1 step 2.2 (issuer signature)",
)
def issuer_signature_invalid(b: Builder) -> Vector:
    issuer_jwt, rest = b.present().split("~", 1)
    return b.form(f"{_flip_signature(issuer_jwt, 10)}~{rest}")


@mutation(
    "kb_jwt_bad_signature",
    "holder_binding",
    "OpenID4VP 1.0 8.6 step 2.4; RFC 9901 7.3 step 3.4 (KB-JWT signature)",
)
def kb_jwt_signature_invalid(b: Builder) -> Vector:
    presentation, kb_jwt = b.present().rsplit("~", 1)
    return b.form(f"{presentation}~{_flip_signature(kb_jwt, 5)}")


@mutation(
    "kb_jwt_bad_signature",
    "holder_binding",
    "OpenID4VP 1.0 8.6 step 2.4; SD-JWT VC 3.4 and RFC 9901 7.3 step 3.2 (key from cnf)",
)
def kb_jwt_signed_by_other_key(b: Builder) -> Vector:
    return b.form(b.present(signer=b.attacker))


@mutation(
    "kb_jwt_wrong_nonce",
    "holder_binding",
    "OpenID4VP 1.0 14.1.2 and B.3.6 (nonce of the request); RFC 9901 7.3 step 3.7",
)
def kb_jwt_wrong_nonce(b: Builder) -> Vector:
    return b.form(b.present(nonce=HOTEL["nonce"]))


@mutation(
    "kb_jwt_wrong_aud",
    "holder_binding",
    "OpenID4VP 1.0 14.1.2 and B.3.6 (aud is the Client Identifier); RFC 9901 7.3 step 3.7",
)
def kb_jwt_wrong_aud(b: Builder) -> Vector:
    return b.form(b.present(aud=OTHER_VERIFIER))


@mutation(
    "kb_jwt_wrong_aud",
    "holder_binding",
    "OpenID4VP 1.0 14.8 (always the full Client Identifier, prefix included) and B.3.6",
)
def kb_jwt_aud_without_client_id_prefix(b: Builder) -> Vector:
    return b.form(b.present(aud=BANK["client_id"].split(":", 1)[1]))


@mutation(
    "kb_jwt_iat_too_old",
    "holder_binding",
    "RFC 9901 7.3 step 3.6 (iat within an acceptable window); OpenID4VP 1.0 14.1.2",
)
def kb_jwt_iat_in_past(b: Builder) -> Vector:
    return b.form(b.present(iat=GENERATED_AT - 3600))


@mutation(
    "kb_jwt_iat_in_future",
    "holder_binding",
    "RFC 9901 7.3 step 3.6 (iat within an acceptable window)",
)
def kb_jwt_iat_in_future(b: Builder) -> Vector:
    return b.form(b.present(iat=GENERATED_AT + 3600))


@mutation(
    "kb_jwt_wrong_sd_hash",
    "holder_binding",
    "RFC 9901 7.3 step 3.8 (sd_hash over the presentation; a disclosure removed after signing)",
)
def kb_jwt_sd_hash_invalid(b: Builder) -> Vector:
    presentation, kb_jwt = b.present().rsplit("~", 1)
    jwt, *disclosures = presentation.split("~")
    return b.form("~".join([jwt, *disclosures[1:], kb_jwt]))


# --- the rest of the verifier's rules ----------------------------------------------


@mutation(
    "kb_jwt_missing",
    "holder_binding",
    "OpenID4VP 1.0 B.3 (SD-JWT+KB unless require_cryptographic_holder_binding is false) and "
    "8.6 step 2.3; RFC 9901 7.3 step 1",
)
def kb_jwt_missing(b: Builder) -> Vector:
    return b.form(b.present(bound=False))


@mutation(
    "over_disclosure",
    "disclosure",
    "OpenID4VP 1.0 6.4 (no selectively disclosable claim beyond the query) and 14.9",
)
def unrequested_claim_disclosed(b: Builder) -> Vector:
    return b.form(b.present(extra=(("holder", "birth_date"),)))


@mutation(
    "dcql_not_satisfied",
    "dcql",
    "OpenID4VP 1.0 6.4.1 (all claims of one claim set, else no credential) and 8.6 step 2.2",
)
def requested_claim_withheld(b: Builder) -> Vector:
    return b.form(b.present(drop=(("spouse", "id_number"),)))


@mutation(
    "dcql_unknown_id",
    "vp_token",
    "OpenID4VP 1.0 8.1 (vp_token keyed by the id of a Credential Query) and 8.6 step 1",
)
def vp_token_unknown_credential_query_id(b: Builder) -> Vector:
    return b.form(b.present(), query_id="identity")


@mutation(
    "vp_token_malformed",
    "vp_token",
    "OpenID4VP 1.0 8.1 (one Presentation unless the query sets multiple)",
)
def vp_token_two_presentations_for_single_query(b: Builder) -> Vector:
    return b.form(b.present(), b.present())


@mutation(
    "json_duplicate_member",
    "response",
    "OpenID4VP 1.0 8.1; RFC 7493 2.3 (no duplicate member names): a revoked credential's "
    "presentation shadowed by a valid one under the same query id",
)
def vp_token_duplicate_query_id(b: Builder) -> Vector:
    query_id = PRESETS[BANK["preset"]].query.credentials[0].id
    revoked = b.license_at(REVOKED_IDX)
    first = json.dumps({query_id: [b.present(revoked)]})
    last = json.dumps({query_id: [b.present()]})  # what a last-member-wins parser keeps
    return Vector({"vp_token": f"{first[:-1]}, {last[1:]}", "state": BANK["request_id"]}, BANK)


@mutation(
    "vc_type_not_accepted",
    "dcql",
    "OpenID4VP 1.0 B.3.5 (vct_values) and 8.6 step 2.2; SD-JWT VC 3.2.2.1",
)
def vct_not_in_query(b: Builder) -> Vector:
    resident = b.credential("resident_id", RESIDENT, RESIDENT_IDX)
    return b.form(b.present(resident, paths=(("name",), ("id_number",))))


@mutation(
    "expired",
    "validity_window",
    "RFC 9901 7.1 step 6; RFC 7519 4.1.4; Token Status List 8.3 (expiry before status)",
)
def credential_expired(b: Builder) -> Vector:
    old = b.license_at(
        EXPIRED_IDX,
        issued_at=GENERATED_AT - 1826 * 86400,
        expires_at=GENERATED_AT - 86400,
    )
    return b.form(b.present(old))


@mutation(
    "untrusted_issuer",
    "trust_list",
    "SD-JWT VC 3.5 (issuer key by a permitted mechanism, else reject); OpenID4VP 1.0 8.6 step 2.5",
)
def issuer_not_trusted(b: Builder) -> Vector:
    forged = b.license_at(
        VALID_IDX,
        issuer="https://civil-affairs.attacker.example",
        signer=b.attacker,
        status_uri="https://civil-affairs.attacker.example/status/lists/1",
    )
    return b.form(b.present(forged))


@mutation(
    "credential_revoked",
    "status",
    "Token Status List 7.1 (0x01 INVALID) and 8.3 step 7; OpenID4VP 1.0 8.6 step 2.5",
)
def status_revoked(b: Builder) -> Vector:
    return b.form(b.present(b.license_at(REVOKED_IDX)))


@mutation(
    "credential_suspended",
    "status",
    "Token Status List 7.1 (0x02 SUSPENDED) and 8.3 step 7; OpenID4VP 1.0 8.6 step 2.5",
)
def status_suspended(b: Builder) -> Vector:
    return b.form(b.present(b.license_at(SUSPENDED_IDX)))


@mutation(
    "status_index_out_of_range",
    "status",
    "Token Status List 8.3 step 6 (index out of bounds: reject)",
)
def status_index_out_of_range(b: Builder) -> Vector:
    return b.form(b.present(b.license_at(STATUS_SIZE)))


@mutation(
    "status_reference_missing",
    "status",
    "Token Status List 8.3 step 1 (status claim present); SD-JWT VC 3.4 (status checked by "
    "policy): eLicense fails closed",
)
def status_claim_missing(b: Builder) -> Vector:
    ctype = CATALOG.get("marriage_license")
    issued = sd_jwt_vc.issue_credential(
        signer=b.issuer,
        issuer=BASE_URL,
        vct=ctype.vct,
        claims=MARRIAGE,
        selectively_disclosable=disclosable_paths(ctype, MARRIAGE),
        holder_jwk=b.holder.public_jwk,
        issued_at=ISSUED_AT,
        expires_at=EXPIRES_AT,
    )
    return b.form(b.present(Held(issued.serialize(), ctype.vct, MARRIAGE, b.holder)))


@mutation(
    "status_uri_untrusted",
    "status",
    "Token Status List 8.3 step 2 and 11.3; SD-JWT VC 10.1 (SSRF): the list is on the "
    "issuer's origin",
)
def status_uri_on_another_origin(b: Builder) -> Vector:
    elsewhere = "https://status.attacker.example/lists/1"
    return b.form(b.present(b.license_at(1, status_uri=elsewhere)))


@mutation(
    "claims_not_permitted",
    "rp_permission",
    "OpenID4VP 1.0 15.4.2 (strictly necessary claims); eLicense RP registration, loaded at "
    "response time (narrowed after the request: spouse.id_number withdrawn)",
)
def claim_not_permitted_to_rp(b: Builder) -> Vector:
    narrowed = dataclasses.replace(
        MORTGAGE_GRANT, claims=MORTGAGE_GRANT.claims - {"spouse.id_number"}
    )
    return b.form(expect={**BANK, "grants": [narrowed.to_json()]})


@mutation(
    "region_mismatch",
    "region",
    "eLicense catalogue policy: resident_id is same_region_only (issuing_region 440305, RP "
    "region 330100)",
)
def resident_id_from_another_region(b: Builder) -> Vector:
    resident = b.credential("resident_id", RESIDENT, RESIDENT_IDX)
    return b.form(b.present(resident, expect=HOTEL), expect=HOTEL)


# --- the response form --------------------------------------------------------------


@mutation(
    "response_state_mismatch",
    "response",
    "OpenID4VP 1.0 14.3.2 (state of a recent request) and 8.2",
)
def response_state_mismatch(b: Builder) -> Vector:
    return b.form(state=HOTEL["request_id"])


@mutation(
    "response_not_encrypted",
    "response",
    "OpenID4VP 1.0 8.3.1 (direct_post.jwt: the response parameter holds the encrypted JWT)",
)
def response_not_encrypted(b: Builder) -> Vector:
    plain = b.form()
    return Vector(plain.form, {**BANK, "response_mode": "direct_post.jwt"})


@mutation(
    "jwe_decrypt_failed",
    "response",
    "OpenID4VP 1.0 8.3 (encrypted to the request's key); RFC 7516 5.2",
)
def response_encrypted_to_another_key(b: Builder) -> Vector:
    other = ec.generate_private_key(ec.SECP256R1())  # not the request's key; discarded
    recipient = {**LocalSigner(other).public_jwk, "kid": BANK["request_id"]}
    plain = b.form()
    body = {"vp_token": json.loads(plain.form["vp_token"]), "state": plain.form["state"]}
    response = jwe.encrypt(json.dumps(body).encode(), recipient)
    return Vector({"response": response}, {**BANK, "response_mode": "direct_post.jwt"})


def generate(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Write every vector, ``trust.json``, ``status_list.jwt`` and ``manifest.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with clock.frozen(GENERATED_AT):
        builder = Builder()
        (out_dir / "trust.json").write_text(json.dumps(builder.trust(), indent=2) + "\n")
        (out_dir / "status_list.jwt").write_text(builder.status_list() + "\n")
        (out_dir / "valid_presentation.txt").write_text(urlencode(builder.form().form) + "\n")
        manifest: dict[str, dict[str, Any]] = {}
        for name, rule in MUTATIONS.items():
            vector = rule.mutation(builder)
            (out_dir / f"{name}.txt").write_text(urlencode(vector.form) + "\n")
            manifest[name] = {
                "code": rule.code,
                "check": rule.check,
                "section": rule.section,
                "expectation": vector.expectation,
            }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    )
    return manifest


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
