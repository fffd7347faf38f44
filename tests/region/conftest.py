"""The region's specs drive the same real Chromium as the dashboard's."""

from tests.dashboard.conftest import browser

__all__ = ["browser"]
