"""The secured site's fixtures, for every security spec."""

from tests.security.secured_site import broker_of, collector, site

__all__ = ["broker_of", "collector", "site"]
