"""Pytest fixtures for the fakes.

Load them from the top-level ``tests/conftest.py`` with
``pytest_plugins = ["tests.fakes.fixtures"]`` (or import the fixture by name).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.anthropic_server import FakeAnthropic

__all__ = ["fake_anthropic"]


@pytest_asyncio.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """A fake Anthropic API on a free 127.0.0.1 port, fresh for each test.

    Unscripted requests get plausible output derived from the prompt; set
    ``fake_anthropic.default = None`` to make them a 400 instead.
    """
    fake = FakeAnthropic()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
