"""What the tests share, one module per subject (fixtures stay in the conftest.py files):

- ``jobs``: settings for a test app, ``ScriptedJobs`` (a handler that does what the job's
  content says), ``make_queue``/``claim_one`` for queue tests, and ``wait_for``;
- ``generators``: scripted StudyGenerators and lookups for handler unit tests;
- ``sse``: a strict Server-Sent Events reader with a ceiling on every read;
- ``processes``: real server processes for the fault tests;
- ``net``: a free local port;
- ``regex_steps``: a pattern's backtracking work on a text, counted (for the ReDoS tests).

The fake Anthropic server is a part of its own, in ``tests/fakes``.
"""
