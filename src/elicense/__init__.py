"""eLicense: electronic certificates and licenses."""

__version__ = "0.1.0"
