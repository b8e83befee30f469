from __future__ import annotations

from pathlib import Path

import pytest

from elicense.errors import ConfigError, CryptoError
from elicense.storage.sealing import Sealer


def test_round_trip_and_fresh_ciphertext_each_time() -> None:
    sealer = Sealer.generate()
    a = sealer.seal_text("110101199003074514", "person.id_number")
    b = sealer.seal_text("110101199003074514", "person.id_number")
    assert a != b
    assert sealer.unseal_text(a, "person.id_number") == "110101199003074514"


def test_wrong_context_fails() -> None:
    sealer = Sealer.generate()
    blob = sealer.seal(b"x", "person.id_number")
    with pytest.raises(CryptoError) as err:
        sealer.unseal(blob, "face.template")
    assert err.value.instance_code == "sealed_tampered"


def test_flipped_byte_fails() -> None:
    sealer = Sealer.generate()
    blob = bytearray(sealer.seal(b"secret", "c"))
    blob[-1] ^= 1
    with pytest.raises(CryptoError):
        sealer.unseal(bytes(blob), "c")


def test_other_key_is_detected() -> None:
    blob = Sealer.generate().seal(b"secret", "c")
    with pytest.raises(CryptoError) as err:
        Sealer.generate().unseal(blob, "c")
    assert err.value.instance_code == "sealed_unknown_key"


def test_blind_index_is_keyed_and_stable() -> None:
    s1, s2 = Sealer.generate(), Sealer.generate()
    assert s1.blind_index("v", "c") == s1.blind_index("v", "c")
    assert s1.blind_index("v", "c") != s2.blind_index("v", "c")
    assert s1.blind_index("v", "c") != s1.blind_index("v", "d")


def test_key_file_created_private_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELICENSE_SEALING_KEY", raising=False)
    first = Sealer.from_environment(tmp_path / "keys")
    assert (tmp_path / "keys" / "sealing.key").stat().st_mode & 0o777 == 0o600
    blob = first.seal(b"v", "c")
    assert Sealer.from_environment(tmp_path / "keys").unseal(blob, "c") == b"v"


def test_bad_key_in_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ELICENSE_SEALING_KEY", "not base64!")
    with pytest.raises(ConfigError):
        Sealer.from_environment(tmp_path)
