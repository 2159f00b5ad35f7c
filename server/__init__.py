"""Transport and wiring of cardforge: HTTP, auth, the queue, workers, events, config, CLI."""
