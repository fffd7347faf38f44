"""Fixtures shared by the specs of every room."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.harness import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto broker of the test's own, on a free port."""
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
