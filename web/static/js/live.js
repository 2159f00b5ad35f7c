// Live updates: job events name what changed; the elements that show it refetch themselves.
//
// Every element with data-live, data-fragment and an id is followed (server/http/fragments.py
// says what the attributes mean). One EventSource on /api/events serves the whole page: an
// event names a job and its version, and each element following that job whose
// data-version is older is refetched from its data-fragment URL and replaced. A burst (a
// progress storm) costs one fetch in flight per element plus one more for everything that
// arrived meanwhile. While the stream is down, the same elements are polled instead.

import { startPolling } from "./polling.js";
import { showNotice, swap } from "./swap.js";

const EVENTS_URL = "/api/events";
const COALESCE_MS = 250; // the least time between two fetches of one element

const states = new Map(); // element id → { timer, inFlight, dirty, lastEnd }
let source = null;
let polling = null;

function liveElements() {
  return [...document.querySelectorAll("[data-live][data-fragment][id]")];
}

function follows(element, jobId, eventType) {
  const live = element.dataset.live;
  // the list shows statuses only: progress ticks do not change it
  return live === `job:${jobId}` || (live === "jobs" && eventType === "job");
}

/** Refetch one element soon: at most one fetch in flight, later requests coalesced. */
export function refresh(id) {
  let state = states.get(id);
  if (!state) {
    state = { timer: null, inFlight: false, dirty: false, lastEnd: -Infinity };
    states.set(id, state);
  }
  if (state.inFlight) {
    state.dirty = true;
    return;
  }
  if (state.timer !== null) return;
  const wait = Math.max(0, state.lastEnd + COALESCE_MS - performance.now());
  state.timer = setTimeout(() => run(id, state), wait);
}

async function run(id, state) {
  state.timer = null;
  const element = document.getElementById(id);
  if (!element || !element.dataset.fragment) {
    states.delete(id);
    return;
  }
  state.inFlight = true;
  try {
    await swap(element, element.dataset.fragment);
  } catch {
    // a network blip: the next event or poll tries again
  } finally {
    state.inFlight = false;
    state.lastEnd = performance.now();
    if (state.dirty) {
      state.dirty = false;
      if (document.getElementById(id)?.dataset.live) refresh(id);
    }
  }
}

function onEvent(event) {
  let job;
  try {
    job = JSON.parse(event.data);
  } catch {
    return; // a malformed event is skipped; the next one names the job again
  }
  if (!job || typeof job.id !== "string") return;
  const version = Number(event.lastEventId || job.version);
  for (const element of liveElements()) {
    if (!follows(element, job.id, event.type)) continue;
    if (Number(element.dataset.version) >= version) continue; // already on the page
    refresh(element.id);
  }
}

function openStream() {
  source = new EventSource(EVENTS_URL);
  source.addEventListener("job", onEvent);
  source.addEventListener("progress", onEvent);
  // back after a drop: the browser resumes from Last-Event-ID, so polling can stop
  source.addEventListener("open", stopPolling);
  source.addEventListener("error", startFallback);
}

function closeStream() {
  if (source) source.close();
  source = null;
}

function startFallback() {
  if (polling) return;
  polling = startPolling({
    tick: () => {
      const elements = liveElements();
      if (!elements.length) stopPolling();
      for (const element of elements) refresh(element.id);
    },
    onGiveUp: () => {
      polling = null;
      closeStream();
      const box = document.getElementById("live-notice");
      if (box) showNotice(box.dataset.gaveUpText || "");
    },
  });
}

function stopPolling() {
  if (polling) polling.stop();
  polling = null;
}

/** Follow the page's live elements (again): called at start and after every swap. */
function sync() {
  if (!liveElements().length) {
    closeStream();
    stopPolling();
  } else if (typeof EventSource !== "function") {
    startFallback();
  } else if (!source) {
    openStream();
  }
}

export function start() {
  document.addEventListener("cardforge:swapped", sync);
  window.addEventListener("pagehide", closeStream);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) sync(); // back from the back-forward cache with the stream closed
  });
  sync();
}
