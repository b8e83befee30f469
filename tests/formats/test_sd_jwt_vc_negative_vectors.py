"""Every named negative vector is rejected with the code of the rule it breaks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from elicense import clock
from elicense.crypto.trust import TrustList
from elicense.errors import ELicenseError
from elicense.formats import sd_jwt, sd_jwt_vc

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sd_jwt_vc_negative"
MANIFEST: dict[str, dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sd_jwt_vc_negative_generate", VECTORS / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _policy(entry: dict[str, Any]) -> sd_jwt_vc.CredentialPolicy:
    if "nonce" not in entry:
        return sd_jwt_vc.CredentialPolicy()
    binding = sd_jwt.KeyBindingPolicy(
        nonce=entry["nonce"], audience=entry["aud"], replay_guard=sd_jwt.MemoryReplayGuard()
    )
    return sd_jwt_vc.CredentialPolicy(key_binding=binding)


def _verify(directory: Path, name: str, entry: dict[str, Any]) -> sd_jwt_vc.VerifiedCredential:
    token = (directory / f"{name}.txt").read_text().strip()
    trust = TrustList.load(directory / "trust.json")
    policy = _policy(entry)
    with clock.frozen(GEN.GENERATED_AT + 60):
        if entry.get("replayed"):
            sd_jwt_vc.verify_credential(token, trust=trust, policy=policy)
        return sd_jwt_vc.verify_credential(token, trust=trust, policy=policy)


def test_the_baseline_presentation_is_valid() -> None:
    entry = {"nonce": GEN.NONCE, "aud": GEN.AUD}
    verified = _verify(VECTORS, "valid_presentation_kb", entry)
    assert verified.subject_claims()["given_name"] == "Li"
    assert verified.key_binding is not None


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_committed_vector_is_rejected_by_its_rule(name: str) -> None:
    entry = MANIFEST[name]
    with pytest.raises(ELicenseError) as caught:
        _verify(VECTORS, name, entry)
    assert caught.value.instance_code == entry["code"], caught.value.message


def test_every_vector_file_is_in_the_manifest() -> None:
    files = {p.stem for p in VECTORS.glob("*.txt")} - {"valid_presentation_kb"}
    assert files == set(MANIFEST)


def test_regenerated_vectors_are_rejected_by_the_same_rules(tmp_path: Path) -> None:
    manifest = GEN.generate(tmp_path)
    assert {k: v["code"] for k, v in manifest.items()} == {
        k: v["code"] for k, v in MANIFEST.items()
    }
    _verify(tmp_path, "valid_presentation_kb", {"nonce": GEN.NONCE, "aud": GEN.AUD})
    for name, entry in manifest.items():
        with pytest.raises(ELicenseError) as caught:
            _verify(tmp_path, name, entry)
        assert caught.value.instance_code == entry["code"], name
