"""Cryptography for eLicense, on ``cryptography`` only (pure: keys in, values out).

=======================  ===========================================================
module                   what
=======================  ===========================================================
``algorithms``           the JWS algorithm registry (ES256 default, EdDSA opt-in)
``jws``                  JWS compact serialization: sign with a Signer, verify with a key
``jwk``                  public JWKs, RFC 7638 thumbprints (our key ids)
``keystore``             the ``Signer`` and ``KeyStore`` interfaces, ``jwks()``
``file_store``           key store in passphrase-encrypted PEM files
``pkcs11_store``         key store in an HSM through PKCS#11
``x509``                 issuing CA, document-signer certificates, ``x5c`` validation
``trust``                the trust list and issuer key resolution
``cose``                 COSE_Sign1 (RFC 9052)
``limits``               size caps applied before decoding
``base64url``            strict base64url
``cli``                  ``elicense keys``
=======================  ===========================================================
"""
