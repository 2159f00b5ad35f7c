"""A fake Anthropic Messages API of fixed latency, for ``cardforge bench --inflight``.

It runs in its own process (``python -m server.bench.fake_llm PORT LATENCY_S``) so that
holding a thousand open calls costs the measured process nothing but its client side. Each
``POST /v1/messages`` waits ``LATENCY_S`` and answers the forced tool with one card made from
the material's first "X is Y." sentence; ``GET /stats`` tells how many calls were answered
and the most that were open at once. The real SDK reaches it through ``base_url``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import time
from typing import Any

from aiohttp import web

_MATERIAL = re.compile(r"<material>\s*(.*?)\s*</material>", re.DOTALL)
_DEFINITION = re.compile(r"^(?P<subject>[^.]{3,80}?) is (?P<rest>[^.]{3,300})\.")


class FakeLLM:
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.open = 0
        self.max_open = 0
        self.calls = 0
        self.first_start: float | None = None
        self.last_start = 0.0
        self.last_end = 0.0
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_get("/stats", self.stats)
        return app

    async def stats(self, _request: web.Request) -> web.Response:
        first = self.first_start or 0.0
        return web.json_response({
            "calls": self.calls, "max_in_flight": self.max_open,
            "start_spread_s": self.last_start - first, "first_to_last_answer_s":
            self.last_end - first,
        })

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        self.first_start = now if self.first_start is None else self.first_start
        self.last_start = now
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.open -= 1
        self.calls += 1
        self.last_end = time.monotonic()
        return web.json_response(self._reply(body))

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = "\n".join(
            block.get("text", "") if isinstance(block, dict) else str(block)
            for message in body.get("messages", [])
            for block in (message["content"] if isinstance(message.get("content"), list)
                          else [{"text": message.get("content", "")}])
        )
        material = (_MATERIAL.findall(prompt) or [""])[-1]
        match = _DEFINITION.match(material)
        if match:
            card = {"question": f"What is {match['subject']}?", "answer": match["rest"],
                    "source": match.group(0)}
        else:
            card = {"question": "What does the material say?", "answer": material[:400] or "x"}
        tool = (body.get("tool_choice") or {}).get("name", "record_flashcards")
        number = next(self._ids)
        return {
            "id": f"msg_bench_{number}", "type": "message", "role": "assistant",
            "model": body.get("model", "bench"), "stop_reason": "tool_use",
            "stop_sequence": None,
            "content": [{"type": "tool_use", "id": f"toolu_bench_{number}", "name": tool,
                         "input": {"cards": [card]}}],
            "usage": {"input_tokens": max(1, len(prompt) // 4), "output_tokens": 40},
        }


def main() -> None:
    port, latency_s = int(sys.argv[1]), float(sys.argv[2])
    web.run_app(FakeLLM(latency_s).app(), host="127.0.0.1", port=port, print=None,
                access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
