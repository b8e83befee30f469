"""Credential catalogue: credential types declared as data files, and their loader.

Use :func:`load_catalog` (pass the deployment's ``public_base_url`` as ``base_url``)
and look types up with :meth:`Catalog.get` or :meth:`Catalog.by_vct`.
"""

from elicense.catalog.loader import load_catalog, load_type
from elicense.catalog.model import (
    AccessRule,
    Authority,
    Catalog,
    Claim,
    ClaimType,
    CredentialType,
    Display,
    LocalizedText,
    Policy,
    RevocationTrigger,
    SourceKind,
)

__all__ = [
    "AccessRule",
    "Authority",
    "Catalog",
    "Claim",
    "ClaimType",
    "CredentialType",
    "Display",
    "LocalizedText",
    "Policy",
    "RevocationTrigger",
    "SourceKind",
    "load_catalog",
    "load_type",
]
