"""SD-JWT issuance, holder selection and the generic verification rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from elicense import clock
from elicense.crypto import base64url, jws
from elicense.crypto.keystore import LocalSigner
from elicense.crypto.limits import Limits
from elicense.crypto.trust import IssuerKey
from elicense.errors import (
    ConfigError,
    ELicenseError,
    InvalidToken,
    KeyBindingError,
    TokenExpired,
    TokenNotYetValid,
    TokenTooLarge,
    UnsupportedAlgorithm,
    ValidationFailed,
)
from elicense.formats import sd_jwt

NOW = 1767225600
CLAIMS: dict[str, Any] = {
    "iss": "https://issuer.example",
    "exp": NOW + 3600,
    "name": "李伟",
    "address": {"street": "东长安街 1 号", "city": "北京", "zip": "100006"},
    "nationalities": ["CN", "HK", "MO"],
    "children": [{"name": "A", "born": 2020}, {"name": "B", "born": 2022}],
}


def _issue(signer: LocalSigner, paths: list[tuple[Any, ...]], **kw: Any) -> sd_jwt.IssuedSdJwt:
    return sd_jwt.issue(CLAIMS, signer=signer, selectively_disclosable=paths, **kw)


def _verify(token: str, signer: LocalSigner, **policy: Any) -> sd_jwt.VerifiedSdJwt:
    key = IssuerKey(signer.private_key.public_key())  # type: ignore[arg-type]
    with clock.frozen(NOW):
        return sd_jwt.verify(
            token, issuer_key=lambda _h, _p: key, policy=sd_jwt.VerificationPolicy(**policy)
        )


def _resign(signer: LocalSigner, token: str, edit: Any) -> str:
    """Re-sign the issuer JWT of ``token`` after ``edit(payload)``; keep the rest."""
    jwt, rest = token.split("~", 1)
    head, body, _ = jwt.split(".")
    payload = json.loads(base64url.decode(body))
    edit(payload)
    header = json.loads(base64url.decode(head))
    new = jws.sign_compact(header, json.dumps(payload).encode(), signer)
    return f"{new}~{rest}"


def test_everything_hidden_and_everything_disclosed_round_trips(issuer_signer: LocalSigner) -> None:
    paths = [("name",), ("address",), ("address", "city"), ("nationalities", None), ("children",)]
    paths += [("children", None), ("children", None, "name")]
    issued = _issue(issuer_signer, paths, decoys=2)
    payload = json.loads(jws.decode_compact(issued.jwt).payload)
    assert set(payload) == {"iss", "exp", "nationalities", "_sd", "_sd_alg"}
    assert payload["_sd_alg"] == "sha-256"
    assert len(payload["_sd"]) == 3 + 2
    assert payload["_sd"] == sorted(payload["_sd"])
    assert _verify(issued.serialize(), issuer_signer).claims == CLAIMS


def test_nothing_disclosed_hides_everything_but_clear_claims(issuer_signer: LocalSigner) -> None:
    issued = _issue(issuer_signer, [("name",), ("nationalities", 1)], decoys=1)
    presentation = sd_jwt.present(issued.serialize(), [])
    claims = _verify(presentation, issuer_signer).claims
    assert "name" not in claims
    assert claims["nationalities"] == ["CN", "MO"]


def test_holder_selects_by_claim_path(issuer_signer: LocalSigner) -> None:
    paths = [("address",), ("address", "city"), ("address", "zip"), ("nationalities", None)]
    paths += [("children", None), ("children", None, "born")]
    token = _issue(issuer_signer, paths, decoys=2).serialize()
    cases: list[tuple[list[tuple[Any, ...]], dict[str, Any]]] = [
        ([("address", "city")], {"address": {"street": "东长安街 1 号", "city": "北京"}}),
        ([("address",)], {"address": CLAIMS["address"]}),
        ([("nationalities", 2)], {"nationalities": ["MO"]}),
        ([("nationalities", None)], {"nationalities": ["CN", "HK", "MO"]}),
        ([("children", 1)], {"children": [{"name": "B", "born": 2022}]}),
        ([("children", None, "name")], {"children": [{"name": "A"}, {"name": "B"}]}),
    ]
    for wanted, expected in cases:
        claims = dict(_verify(sd_jwt.present(token, wanted), issuer_signer).claims)
        for key in ("iss", "exp", "name"):
            claims.pop(key)
        claims.pop("nationalities") if "nationalities" not in expected else None
        claims.pop("children") if "children" not in expected else None
        assert {k: v for k, v in claims.items() if v not in ({}, [])} == expected, wanted


def test_presentation_of_a_missing_claim_is_refused(issuer_signer: LocalSigner) -> None:
    token = _issue(issuer_signer, [("name",)]).serialize()
    with pytest.raises(ValidationFailed) as caught:
        sd_jwt.present(token, [("nope",)])
    assert caught.value.instance_code == "claim_path_not_found"


@pytest.mark.parametrize(
    ("claims", "paths", "code"),
    [
        ({"a": 1}, [("b",)], "claim_path_not_found"),
        ({"a": [1]}, [("a", 3)], "claim_path_not_found"),
        ({"a": 1}, [()], "claim_path_invalid"),
        ({"a": 1}, [(1.5,)], "claim_path_invalid"),
        ({"_sd": 1}, [], "claim_name_reserved"),
        ({"a": {"...": 1}}, [], "claim_name_reserved"),
        ({"_sd_alg": "x"}, [], "claim_name_reserved"),
    ],
)
def test_issuance_input_errors(
    issuer_signer: LocalSigner, claims: dict[str, Any], paths: list[Any], code: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sd_jwt.issue(claims, signer=issuer_signer, selectively_disclosable=paths)
    assert caught.value.instance_code == code


def test_unsupported_sd_alg_cannot_be_issued(issuer_signer: LocalSigner) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        _issue(issuer_signer, [("name",)], sd_alg="md5")


def test_sha_512_must_be_allowed_by_the_verifier(issuer_signer: LocalSigner) -> None:
    token = _issue(issuer_signer, [("name",)], sd_alg="sha-512").serialize()
    with pytest.raises(InvalidToken) as caught:
        _verify(token, issuer_signer)
    assert caught.value.instance_code == "sd_jwt_unknown_sd_alg"
    assert _verify(token, issuer_signer, sd_algs=frozenset({"sha-512"})).claims["name"] == "李伟"


def _disclosure(*items: Any) -> str:
    return base64url.encode(json.dumps(list(items)).encode())


def _digest(encoded: str) -> str:
    from elicense.formats._disclosures import digest

    return digest("sha-256", encoded)


def _mutations(signer: LocalSigner) -> dict[str, tuple[str, str]]:
    base = _issue(signer, [("name",), ("nationalities", 0)]).serialize()
    element = _disclosure("salt-salt-salt", "CN")
    named = _disclosure("salt-salt-salt", "x", 1)

    def add_sd(value: Any) -> Any:
        return lambda p: p.__setitem__("_sd", [*p["_sd"], value])

    return {
        "sd_not_array": (
            _resign(signer, base, lambda p: p.__setitem__("_sd", "x")),
            "sd_jwt_sd_not_array",
        ),
        "digest_not_string": (_resign(signer, base, add_sd(5)), "sd_jwt_digest_not_string"),
        "array_digest_with_extra_member": (
            _resign(signer, base, lambda p: p.__setitem__("x", [{"...": "abc", "y": 1}])),
            "sd_jwt_bad_array_digest",
        ),
        "array_disclosure_in_sd": (
            _resign(signer, base, add_sd(_digest(element))) + element + "~",
            "disclosure_wrong_arity",
        ),
        "object_disclosure_as_array_element": (
            _resign(signer, base, lambda p: p.__setitem__("x", [{"...": _digest(named)}]))
            + named
            + "~",
            "disclosure_wrong_arity",
        ),
        "disclosure_empty": (base + "~", "disclosure_empty"),
        "disclosure_salt_not_string": (
            _resign(signer, base, add_sd(_digest(_disclosure(1, "x", 1))))
            + _disclosure(1, "x", 1)
            + "~",
            "disclosure_bad_salt",
        ),
        "disclosure_name_not_string": (
            _resign(signer, base, add_sd(_digest(_disclosure("s", 1, 1))))
            + _disclosure("s", 1, 1)
            + "~",
            "disclosure_bad_name",
        ),
        "exp_not_a_number": (
            _resign(signer, base, lambda p: p.__setitem__("exp", "soon")),
            "bad_exp",
        ),
        "iat_in_future": (
            _resign(signer, base, lambda p: p.__setitem__("iat", NOW + 3600)),
            "iat_in_future",
        ),
        "not_ascii": (base.replace("~", "~é", 1), "sd_jwt_malformed"),
        "no_separator": (base.split("~")[0], "sd_jwt_malformed"),
    }


def test_generic_verification_rules(issuer_signer: LocalSigner) -> None:
    for name, (token, code) in _mutations(issuer_signer).items():
        with pytest.raises(ELicenseError) as caught:
            _verify(token, issuer_signer)
        assert caught.value.instance_code == code, name


def test_depth_and_count_limits(issuer_signer: LocalSigner) -> None:
    deep: Any = "x"
    for _ in range(30):
        deep = {"d": deep}
    token = sd_jwt.issue({"deep": deep, "exp": NOW + 1}, signer=issuer_signer).serialize()
    with pytest.raises(InvalidToken) as too_deep:
        _verify(token, issuer_signer)
    assert too_deep.value.instance_code == "sd_jwt_too_deep"
    many = _issue(issuer_signer, [("name",), ("nationalities", None)]).serialize()
    with pytest.raises(InvalidToken) as too_many:
        _verify(many, issuer_signer, limits=Limits(max_disclosures=2))
    assert too_many.value.instance_code == "sd_jwt_too_many_disclosures"
    with pytest.raises(TokenTooLarge):
        _verify(many, issuer_signer, limits=Limits(max_disclosure_bytes=20))


def test_validity_window_and_bounded_skew(issuer_signer: LocalSigner) -> None:
    token = _issue(issuer_signer, []).serialize()
    key = IssuerKey(issuer_signer.private_key.public_key())  # type: ignore[arg-type]
    policy = sd_jwt.VerificationPolicy(clock_skew=60)
    with clock.frozen(CLAIMS["exp"] + 59):
        sd_jwt.verify(token, issuer_key=lambda _h, _p: key, policy=policy)
    with clock.frozen(CLAIMS["exp"] + 60), pytest.raises(TokenExpired):
        sd_jwt.verify(token, issuer_key=lambda _h, _p: key, policy=policy)
    nbf = _resign(issuer_signer, token, lambda p: p.__setitem__("nbf", NOW + 120))
    with pytest.raises(TokenNotYetValid):
        _verify(nbf, issuer_signer)
    with pytest.raises(ConfigError):
        sd_jwt.VerificationPolicy(clock_skew=301)
    with pytest.raises(ConfigError):
        sd_jwt.VerificationPolicy(clock_skew=-1)


def test_key_binding_edge_cases(issuer_signer: LocalSigner, holder_signer: LocalSigner) -> None:
    claims = {**CLAIMS, "cnf": {"jwk": holder_signer.public_jwk}}
    token = sd_jwt.issue(
        claims, signer=issuer_signer, selectively_disclosable=[("name",)]
    ).serialize()
    request = sd_jwt.KeyBindingRequest(holder_signer, nonce="n", audience="a", iat=NOW)
    bound = sd_jwt.present(token, [("name",)], key_binding=request)
    with pytest.raises(ValidationFailed):
        sd_jwt.present(bound, [])
    guard = sd_jwt.MemoryReplayGuard()
    policy = sd_jwt.KeyBindingPolicy("n", "a", replay_guard=guard)
    assert _verify(bound, issuer_signer, key_binding=policy).key_binding is not None
    with pytest.raises(KeyBindingError) as replay:
        _verify(bound, issuer_signer, key_binding=policy)
    assert replay.value.instance_code == "kb_jwt_nonce_reused"
    # a KB-JWT that is present but not required is still checked
    tampered = bound[:-3] + ("AAA" if not bound.endswith("AAA") else "BBB")
    with pytest.raises(ELicenseError):
        _verify(tampered, issuer_signer)


def test_verified_sd_jwt_cannot_be_constructed_directly(issuer_signer: LocalSigner) -> None:
    key = IssuerKey(issuer_signer.private_key.public_key())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sd_jwt.VerifiedSdJwt(
            header={}, claims={}, disclosed=(), issuer_key=key, key_binding=None, checks=()
        )
