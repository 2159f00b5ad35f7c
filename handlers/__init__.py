"""Domain side of cardforge: job payloads, generators and handlers.

Nothing in this package imports aiohttp or asyncpg. A handler gets a validated payload
and a :class:`~handlers.context.JobContext` and returns an *outcome* that the server
persists inside the job's fenced completion transaction.
"""
