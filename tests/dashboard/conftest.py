"""Fixtures of the dashboard specs: a real browser and a running site."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.dashboard.site import CHROMIUM, CHROMIUM_ARGS, Site, chromium_missing, running_site


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    missing = chromium_missing()
    assert missing is None, missing  # a failure, not a skip: a browser can be installed here
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as s:
        yield s
