"""The holder against a fault-injecting fake issuer (conformant to docs/issuance.md)."""

from __future__ import annotations

import json

import httpx
import pytest
from fake_issuer import ISS, FakeIssuer

from elicense.errors import InvalidSignature, InvalidToken
from elicense.wallet.errors import IssuerError, IssuerUnreachable, OfferInvalid
from elicense.wallet.offer import parse_offer_object
from elicense.wallet.openid4vci import Holder
from elicense.wallet.presentations import build_presentation
from elicense.wallet.store import Wallet


def _receive(issuer: FakeIssuer, wallet: Wallet, **kwargs: object) -> list[object]:
    holder = Holder(issuer.client())
    return list(holder.receive(parse_offer_object(issuer.offer()), wallet, **kwargs))  # type: ignore[arg-type]


def test_happy_path_stores_a_verified_credential_with_its_own_key() -> None:
    issuer, wallet = FakeIssuer(), Wallet()
    [stored] = _receive(issuer, wallet)
    credential = wallet.list()[0]
    assert stored == credential
    assert credential.claims == {"holder": {"name": "张伟"}, "certificate_no": "J1"}
    assert credential.display.label(("holder", "name"), "zh-CN") == "姓名"
    assert credential.holder_kid in wallet.keys
    assert len(wallet.keys) == 1  # the DPoP key is ephemeral, never stored
    assert issuer.notifications == [{"notification_id": "ntf_1", "event": "credential_accepted"}]
    assert build_presentation(wallet, credential.id, [["holder", "name"]], nonce="n", audience="a")


def test_batch_uses_distinct_keys() -> None:
    issuer, wallet = FakeIssuer(), Wallet()
    stored = _receive(issuer, wallet, copies=5)
    assert len(stored) == 3  # capped by the issuer's batch_size
    assert len({c.holder_kid for c in wallet.list()}) == 3


def test_tx_code_is_required_and_sent() -> None:
    issuer = FakeIssuer(tx_code="493817")
    with pytest.raises(OfferInvalid) as info:
        _receive(issuer, Wallet())
    assert info.value.instance_code == "tx_code_required"
    with pytest.raises(IssuerError) as wrong:
        _receive(issuer, Wallet(), tx_code="000000")
    assert wrong.value.instance_code == "invalid_grant"
    assert len(_receive(issuer, Wallet(), tx_code="493817")) == 1


def test_dpop_nonce_is_honoured_at_token_and_credential_endpoints() -> None:
    issuer, wallet = FakeIssuer(dpop_nonce="srv-nonce"), Wallet()
    assert len(_receive(issuer, wallet)) == 1
    assert issuer.log.count("POST /issuance/token") == 2
    # the nonce learnt at the token endpoint is reused for the same server
    assert issuer.log.count("POST /issuance/credential") == 1
    issuer.dpop_nonce = "rotated"
    assert len(_receive_again(issuer, wallet)) == 1


def _receive_again(issuer: FakeIssuer, wallet: Wallet) -> list[object]:
    issuer.code = "pre-code-1"
    issuer.log.clear()
    stored = _receive(issuer, wallet)
    assert issuer.log.count("POST /issuance/token") == 2
    return stored


def test_network_failure_on_credential_is_retried_with_the_same_request() -> None:
    issuer, wallet = FakeIssuer(), Wallet()
    bodies: list[bytes] = []

    def lose_first_response(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/issuance/credential":
            return None
        bodies.append(request.content)
        if len(bodies) == 1:
            issuer.credential(request)  # the issuer did issue, but the answer is lost
            raise httpx.ReadTimeout("lost", request=request)
        return None

    issuer.fault = lose_first_response
    assert len(_receive(issuer, wallet)) == 1
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    assert issuer.issued == 1  # no second credential


def test_issuer_down_is_a_typed_error_and_nothing_is_stored() -> None:
    issuer, wallet = FakeIssuer(), Wallet()

    def down(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/issuance/credential":
            raise httpx.ConnectError("refused", request=request)
        return None

    issuer.fault = down
    with pytest.raises(IssuerUnreachable):
        _receive(issuer, wallet)
    assert wallet.list() == []
    assert issuer.log.count("POST /issuance/credential") == 3


def test_invalid_nonce_gets_one_fresh_nonce() -> None:
    issuer, wallet = FakeIssuer(), Wallet()
    forget = {"done": False}

    def expire_nonces(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/issuance/credential" and not forget["done"]:
            forget["done"] = True
            issuer.nonces.clear()
        return None

    issuer.fault = expire_nonces
    assert len(_receive(issuer, wallet)) == 1
    assert issuer.log.count("POST /issuance/nonce") == 2


def test_issuer_error_codes_become_typed_errors() -> None:
    issuer = FakeIssuer()

    def refuse(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/issuance/credential":
            body = {"error": "invalid_proof", "error_description": "stale iat"}
            return httpx.Response(400, json=body)
        return None

    issuer.fault = refuse
    with pytest.raises(IssuerError) as info:
        _receive(issuer, Wallet())
    assert info.value.instance_code == "invalid_proof"
    assert "stale iat" in info.value.message


def test_a_credential_that_does_not_verify_is_never_stored() -> None:
    issuer, wallet = FakeIssuer(), Wallet()
    issuer.tamper = True
    with pytest.raises((InvalidSignature, InvalidToken)):
        _receive(issuer, wallet)
    assert wallet.list() == []
    assert wallet.keys == {}


def test_a_credential_bound_to_someone_elses_key_is_refused() -> None:
    issuer, wallet = FakeIssuer(), Wallet()
    other = Wallet().new_holder_key()
    original = issuer._issue
    issuer._issue = lambda jwk: original(other.public_jwk)  # type: ignore[method-assign]
    with pytest.raises(IssuerError) as info:
        _receive(issuer, wallet)
    assert info.value.instance_code == "wrong_holder_key"


def test_metadata_for_another_issuer_is_refused() -> None:
    issuer = FakeIssuer()

    def spoof(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/.well-known/openid-credential-issuer":
            return httpx.Response(200, json={"credential_issuer": "https://evil.example"})
        return None

    issuer.fault = spoof
    with pytest.raises(IssuerError) as info:
        _receive(issuer, Wallet())
    assert info.value.instance_code == "metadata_mismatch"


def test_unknown_configuration_in_offer() -> None:
    issuer = FakeIssuer()
    offer = {**issuer.offer(), "credential_configuration_ids": ["travel_pass"]}
    with pytest.raises(IssuerError) as info:
        Holder(issuer.client()).receive(parse_offer_object(offer), Wallet())
    assert info.value.instance_code == "unknown_credential_configuration"
    assert json.dumps(offer).count(ISS) == 1
