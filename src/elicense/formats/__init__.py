"""Credential formats (pure: bytes in, typed values out, errors raised).

* :mod:`elicense.formats.sd_jwt` - Selective Disclosure for JWTs (RFC 9901).
* :mod:`elicense.formats.sd_jwt_vc` - SD-JWT-based Verifiable Credentials (``dc+sd-jwt``).
* :mod:`elicense.formats.cli` - ``elicense verify``.
"""
