// The polling fallback, on the seed's schedule: used only while the event stream is down.

export const POLL_SCHEDULE = [
  { after: 0, every: 3000 },
  { after: 30_000, every: 5000 },
  { after: 120_000, every: 10_000 },
];
export const POLL_GIVE_UP_MS = 10 * 60_000;

function delayFor(elapsed) {
  let every = POLL_SCHEDULE[0].every;
  for (const step of POLL_SCHEDULE) if (elapsed >= step.after) every = step.every;
  return every;
}

/** Call tick() at once and then on the schedule; after ten minutes, onGiveUp() instead. */
export function startPolling({ tick, onGiveUp }) {
  const since = performance.now();
  let timer = null;
  let stopped = false;
  const run = () => {
    if (stopped) return;
    const elapsed = performance.now() - since;
    if (elapsed >= POLL_GIVE_UP_MS) {
      stopped = true;
      onGiveUp();
      return;
    }
    tick();
    timer = setTimeout(run, delayFor(elapsed));
  };
  run();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
