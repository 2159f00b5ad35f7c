"""Server-rendered pages (aiohttp-jinja2)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the HTML routes and the template environment."""
