"""A real cardforge server process whose flashcard jobs follow tests.support.jobs's
scripts (``slow:3``, ``crash``, ...). Configured by the same environment as ``cardforge
serve``; the port comes from argv. Used by the fault tests to kill, stop and restart it."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from server.app import create_app
from server.config import load_settings
from tests.support.jobs import ScriptedJobs


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = load_settings()
    app = create_app(settings, registry=ScriptedJobs().registry())
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), handler_cancellation=True,
        shutdown_timeout=settings.shutdown_grace_seconds + 5, print=None,
    )


if __name__ == "__main__":
    main()
