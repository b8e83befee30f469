"""OpenID4VP end to end through the HTTP API, and every negative case by its mutation."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from verification_support import MARRIAGE, Env, create, fetch, post_vp, rejected, result

from elicense import clock
from elicense.crypto import base64url, jws
from elicense.crypto.keystore import LocalSigner
from elicense.errors import ELicenseError
from elicense.formats import sd_jwt
from elicense.status.token_status_list import Status
from elicense.verification import dcql, service, webhooks
from elicense.wallet import openid4vp

# --- the happy path ---------------------------------------------------------------------


def test_mortgage_flow_end_to_end(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    assert created["deep_link"].startswith("openid4vp://?client_id=x509_san_dns%3Abank.example.com")
    assert result(env, bank, created).status_code == 202
    response = openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    assert response.status_code == 200, response.text
    body = result(env, bank, created).json()
    assert body["outcome"] == "verified"
    claims = body["credentials"][0]["claims"]
    assert claims == {
        "marital_status": "married",
        "holder": {"name": "刘洋", "id_number": "440305199004011234"},
        "spouse": {"name": "周婷", "id_number": "440305199208092345"},
    }
    names = [c["name"] for c in body["checks"]]
    for check in (
        "issuer_signature",
        "trust_list",
        "validity_window",
        "status",
        "holder_binding",
        "dcql",
        "disclosure",
        "rp_permission",
    ):
        assert check in names
    assert all(c["ok"] for c in body["checks"])


def test_request_uri_fetchable_more_than_once_get_and_post(
    env: Env, bank: service.Registered
) -> None:
    created = create(env, bank)
    path = urlsplit(created["request_uri"]).path
    first, second = env.client.get(path), env.client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"].startswith("application/oauth-authz-req+jwt")
    posted = env.client.post(path, data={"wallet_nonce": "wn-123"})
    assert posted.status_code == 200
    claims = json.loads(jws.decode_compact(posted.text).payload)
    assert claims["wallet_nonce"] == "wn-123"


def test_qr_code_is_a_png(env: Env, bank: service.Registered) -> None:
    created = create(env, bank)
    response = env.client.get(urlsplit(created["qr_uri"]).path)
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")


def test_direct_post_jwt_encrypted_response(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank, preset="mortgage", response_mode="direct_post.jwt")
    request = fetch(env, created)
    form = openid4vp.build_response(request, openid4vp.choose(request, [held]))
    assert set(form) == {"response"}
    assert len(form["response"].split(".")) == 5
    posted = env.client.post(urlsplit(request.request.response_uri).path, data=form)
    assert posted.status_code == 200, posted.text
    assert result(env, bank, created).json()["outcome"] == "verified"


def test_direct_post_jwt_refuses_plain_response(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank, preset="mortgage", response_mode="direct_post.jwt")
    rejected(env, bank, created, post_vp(env, created, held), "response_not_encrypted")


def test_x509_hash_client_id(env: Env) -> None:
    from verification_support import MORTGAGE_GRANT, REGISTRY_USCC

    rp = env.register(
        "Hash Bank",
        REGISTRY_USCC,
        "bank",
        "440300",
        "hash.example.com",
        [MORTGAGE_GRANT],
        prefix="x509_hash",
    )
    assert rp.rp.client_id.startswith("x509_hash:")
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, rp)
    response = openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    assert response.status_code == 200, response.text


def test_webhook_signature_verifies(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    assert webhooks.DeliveryLoop(env.db, lambda: env.ctx).run_once() == 1
    hooks = [r for r in env.transport.captured if r.url.host == "bank.example.com"]
    assert len(hooks) == 1
    jwks = env.client.get("/verification/jwks.json").json()
    from elicense.crypto.jwk import load_public_jwk

    token = jws.decode_compact(hooks[0].content.decode("ascii"))
    verified = jws.verify(
        token, load_public_jwk(jwks["keys"][0]), allowed_algs=frozenset({"ES256"})
    )
    payload = json.loads(verified.payload)
    assert (payload["outcome"], payload["request_id"]) == ("verified", created["id"])
    assert payload["jti"] == hooks[0].headers["Webhook-Id"]
    tampered = token.signing_input[:-2] + b"AA"
    with pytest.raises(ELicenseError):
        jws.verify(
            jws.UnverifiedJws(token.header, token.payload, tampered, token.signature),
            load_public_jwk(jwks["keys"][0]),
            allowed_algs=frozenset({"ES256"}),
        )


def test_history_records_names_not_values(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    from elicense.crypto.jwk import thumbprint

    with env.db.transaction() as session:
        history = service.history_for_holder(session, thumbprint(held.signer.public_jwk))
    assert history[0]["rp"] == "Bank of Nanshan"
    assert "marriage_license.spouse.name" in history[0]["claims"]
    assert "周婷" not in json.dumps(history, ensure_ascii=False)


# --- results ----------------------------------------------------------------------------


def test_result_fetched_twice_is_gone(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    assert result(env, bank, created).status_code == 200
    second = result(env, bank, created)
    assert second.status_code == 410
    assert second.json()["code"] == "result_already_fetched"


def test_result_after_retention_is_gone(env_factory: Callable[..., Env]) -> None:
    from verification_support import BANK_USCC, MORTGAGE_GRANT

    env = env_factory(retention=60)
    bank = env.register("Bank", BANK_USCC, "bank", "440300", "bank.example.com", [MORTGAGE_GRANT])
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    openid4vp.present(
        created["request_uri"], [held], anchors=[env.ctx.ca.certificate], client=env.http()
    )
    with clock.shifted(61):
        with env.db.transaction() as session:
            assert service.purge_expired(session) == 1
        response = result(env, bank, created)
    assert response.status_code == 410
    assert response.json()["code"] == "result_expired"


def test_result_of_another_rp_is_not_found(
    env: Env, bank: service.Registered, hotel: service.Registered
) -> None:
    created = create(env, bank)
    assert result(env, hotel, created).status_code == 404


def test_wrong_client_secret_is_unauthorized(env: Env, bank: service.Registered) -> None:
    response = env.client.post(
        "/verification/requests", json={"preset": "mortgage"}, auth=(bank.rp.id, "wrong")
    )
    assert response.status_code == 401


# --- holder binding and signatures (OIDF verifier negative tests) ----------------------


def _flip_issuer_signature(vp: str) -> str:
    jwt, rest = vp.split("~", 1)
    head, payload, sig = jwt.split(".")
    raw = bytearray(base64url.decode(sig))
    raw[5] ^= 1
    return f"{head}.{payload}.{base64url.encode(bytes(raw))}~{rest}"


def _flip_kb_signature(vp: str) -> str:
    body, kb = vp.rsplit("~", 1)
    head, payload, sig = kb.split(".")
    raw = bytearray(base64url.decode(sig))
    raw[5] ^= 1
    return f"{body}~{head}.{payload}.{base64url.encode(bytes(raw))}"


def test_invalid_credential_signature(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    rejected(
        env,
        bank,
        created,
        post_vp(env, created, held, mutate=_flip_issuer_signature),
        "jws_bad_signature",
    )


def test_credential_from_untrusted_issuer(env: Env, bank: service.Registered) -> None:
    rogue = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    held = env.credential("marriage_license", MARRIAGE, signer=rogue)
    created = create(env, bank)
    rejected(env, bank, created, post_vp(env, created, held), "unknown_kid")


def test_invalid_kb_jwt_signature(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    rejected(
        env,
        bank,
        created,
        post_vp(env, created, held, mutate=_flip_kb_signature),
        "kb_jwt_bad_signature",
    )


def test_kb_jwt_wrong_nonce(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    rejected(
        env, bank, created, post_vp(env, created, held, nonce="not-the-nonce"), "kb_jwt_wrong_nonce"
    )


def test_kb_jwt_wrong_aud(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    rejected(
        env,
        bank,
        created,
        post_vp(env, created, held, aud="x509_san_dns:evil.example"),
        "kb_jwt_wrong_aud",
    )


def test_kb_jwt_iat_in_past(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    rejected(
        env,
        bank,
        created,
        post_vp(env, created, held, iat=clock.epoch() - 3600),
        "kb_jwt_iat_too_old",
    )


def test_kb_jwt_iat_in_future(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    rejected(
        env,
        bank,
        created,
        post_vp(env, created, held, iat=clock.epoch() + 3600),
        "kb_jwt_iat_in_future",
    )


def test_kb_jwt_invalid_sd_hash(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    request = fetch(env, created)
    query = request.request.query.credentials[0]
    paths = list(dcql.disclosure_paths(query, held.claims))
    full = sd_jwt.present(held.raw, paths)
    bound = sd_jwt.present(
        held.raw,
        paths[:-1],
        key_binding=sd_jwt.KeyBindingRequest(
            signer=held.signer, nonce=request.request.nonce, audience=request.request.client_id
        ),
    )
    mutated = full + bound.rsplit("~", 1)[1]  # KB-JWT over fewer disclosures
    form = {"vp_token": json.dumps({query.id: [mutated]}), "state": request.request.state}
    response = env.client.post(urlsplit(request.request.response_uri).path, data=form)
    rejected(env, bank, created, response, "kb_jwt_wrong_sd_hash")


def test_replay_of_whole_presentation_into_another_request(
    env: Env, bank: service.Registered
) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    first = create(env, bank)
    request = fetch(env, first)
    form = openid4vp.build_response(request, openid4vp.choose(request, [held]))
    assert (
        env.client.post(urlsplit(request.request.response_uri).path, data=form).status_code == 200
    )
    second = create(env, bank)
    replayed = {**form, "state": second["id"]}
    response = env.client.post(f"/verification/responses/{second['id']}", data=replayed)
    rejected(env, bank, second, response, "kb_jwt_wrong_nonce")


def test_replay_into_the_same_request(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    request = fetch(env, created)
    form = openid4vp.build_response(request, openid4vp.choose(request, [held]))
    path = urlsplit(request.request.response_uri).path
    assert env.client.post(path, data=form).status_code == 200
    again = env.client.post(path, data=form)
    assert again.status_code == 409
    assert again.json()["code"] == "request_already_answered"


def test_presentation_for_expired_request(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    request = fetch(env, created)
    form = openid4vp.build_response(request, openid4vp.choose(request, [held]))
    with clock.shifted(301):
        response = env.client.post(urlsplit(request.request.response_uri).path, data=form)
    assert response.status_code == 410
    assert response.json()["code"] == "request_expired"


def test_expired_credential(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE, expires_in=-120)
    created = create(env, bank)
    rejected(env, bank, created, post_vp(env, created, held), "expired")


# --- status -------------------------------------------------------------------------------


def test_revoked_credential(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE, status=Status.INVALID)
    created = create(env, bank)
    rejected(env, bank, created, post_vp(env, created, held), "credential_revoked")


def test_suspended_credential(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE, status=Status.SUSPENDED)
    created = create(env, bank)
    rejected(env, bank, created, post_vp(env, created, held), "credential_suspended")


def test_status_list_unreachable_fails_closed(env: Env, bank: service.Registered) -> None:
    held = env.credential("marriage_license", MARRIAGE)
    created = create(env, bank)
    env.transport.down = True
    response = post_vp(env, created, held)
    rejected(env, bank, created, response, "status_list_unreachable")
    assert "unreachable" in response.json()["detail"]


def test_status_list_cached_within_ttl(env: Env, bank: service.Registered) -> None:
    cache = env.ctx.verifier.status
    for _ in range(2):
        held = env.credential("marriage_license", MARRIAGE)
        created = create(env, bank)
        assert post_vp(env, created, held).status_code == 200
    assert cache.fetches == 1
