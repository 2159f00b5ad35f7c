// cardforge: live updates and in-place actions for the server-rendered pages.
//
// The pages work without this file (every button is also a form post). This module adds:
// live job status (SSE, falling back to polling), rendering of finished work, flip cards
// and answer-choice quizzes. LLM output is put in the page with textContent only, never
// innerHTML, so a card that says <script> shows those characters and runs nothing.

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const STATUS_LABELS = {
  pending: "Queued",
  processing: "Working",
  completed: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};
const TYPE_LABELS = {
  flashcard_generation: "Flashcards",
  distractor_generation: "Answer choices",
  skill_tree_generation: "Skill tree",
};
const PLACEHOLDERS = {
  flashcard_generation: "Generating flashcards...",
  distractor_generation: "Generating answer choices...",
  skill_tree_generation: "Generating skill tree...",
};

// The seed's polling schedule, used only when the event stream is unavailable.
const POLL_SCHEDULE = [
  { after: 0, every: 3000 },
  { after: 30_000, every: 5000 },
  { after: 120_000, every: 10_000 },
];
const POLL_GIVE_UP_MS = 10 * 60_000;

document.documentElement.classList.add("js");

// ------------------------------------------------------------------ small DOM helpers

/** An element with attributes and children; strings become text nodes, never markup. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-") || name.startsWith("aria-") || name === "role") {
      node.setAttribute(name, value === true ? "" : String(value));
    } else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function announce(region, message) {
  if (!region) return;
  // Re-announce the same words too: clear first, set on the next frame.
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

function readJsonBlock(id) {
  const block = document.getElementById(id);
  return block ? JSON.parse(block.textContent) : null;
}

// ------------------------------------------------------------------ the JSON API

class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError("Could not reach the server. Check your connection.", 0, null);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) {
      throw new ApiError("Your session has ended. Sign in again.", 401, data);
    }
    const message = (data && data.error) || `The request failed (${response.status}).`;
    throw new ApiError(message, response.status, data);
  }
  return data;
}

function describeError(err) {
  const details = err.body && Array.isArray(err.body.details) ? err.body.details : [];
  const extra = details.map((d) => `${d.field}: ${d.message}`).join("; ");
  return extra ? `${err.message} (${extra})` : err.message;
}

// ------------------------------------------------------------------ following a job

/**
 * Calls onJob(job) with every new state of a job until it is terminal.
 * The event stream first; if it fails before the job finishes (or EventSource is missing),
 * polling GET /api/jobs/{id} on the seed's schedule, giving up after ten minutes.
 */
function followJob(jobId, { onJob, onGiveUp }) {
  let finished = false;
  let source = null;
  let timer = null;
  let pollingSince = null;

  const stop = () => {
    finished = true;
    if (source) source.close();
    clearTimeout(timer);
  };

  const handle = (job) => {
    if (finished || !job || job.id !== jobId) return;
    onJob(job);
    if (TERMINAL.has(job.status)) stop();
  };

  const delayFor = (elapsed) => {
    let every = POLL_SCHEDULE[0].every;
    for (const step of POLL_SCHEDULE) if (elapsed >= step.after) every = step.every;
    return every;
  };

  const poll = async () => {
    if (finished) return;
    try {
      handle(await api("GET", `/api/jobs/${jobId}`));
    } catch (err) {
      if (err.status === 404 || err.status === 401) {
        stop();
        if (onGiveUp) onGiveUp(err.message);
        return;
      }
      // a network blip: the next tick tries again
    }
    if (finished) return;
    const elapsed = performance.now() - pollingSince;
    if (elapsed >= POLL_GIVE_UP_MS) {
      stop();
      if (onGiveUp) onGiveUp("Still working — refresh the page to check again.");
      return;
    }
    timer = setTimeout(poll, delayFor(elapsed));
  };

  const startPolling = () => {
    if (finished || pollingSince !== null) return;
    if (source) source.close();
    pollingSince = performance.now();
    poll();
  };

  if (typeof EventSource === "function") {
    source = new EventSource(`/api/jobs/${jobId}/events`);
    const onEvent = (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch {
        // a malformed event is skipped; the next one carries the whole state again
      }
    };
    source.addEventListener("job", onEvent);
    source.addEventListener("progress", onEvent);
    source.addEventListener("error", () => {
      if (!finished) startPolling();
    });
  } else {
    startPolling();
  }
  return { stop };
}

// ------------------------------------------------------------------ rendering

function progressOf(job) {
  const p = job.progress;
  if (!p || typeof p !== "object") return null;
  const done = p.chunk ?? p.done;
  const total = p.chunks ?? p.total;
  if (!Number.isInteger(done) || !Number.isInteger(total) || total < 1) return null;
  return { done: Math.min(done, total), total };
}

function progressText(job) {
  const progress = progressOf(job);
  if (progress) return `Chunk ${progress.done} of ${progress.total}`;
  if (job.nextRetryAt) {
    return `Retrying soon (attempt ${job.attempts} of ${job.maxAttempts} hit a snag)`;
  }
  return job.status === "pending" ? "Waiting for a free worker…" : "Working on it…";
}

function statusBadge(status) {
  return h("span", {
    class: `badge badge-${status}`,
    "data-role": "status-badge",
    text: STATUS_LABELS[status] || status,
  });
}

function updateBadge(scope, status) {
  const badge = scope.querySelector('[data-role="status-badge"]');
  if (badge) badge.replaceWith(statusBadge(status));
}

function flashcardElement(card) {
  const item = h(
    "li",
    { class: "flashcard", "data-card-id": card.id },
    h(
      "div",
      { class: "flip", "data-role": "flip" },
      h(
        "div",
        { class: "face face-front" },
        h("span", { class: "face-label", text: "Question" }),
        h("p", { class: "face-text", "data-role": "question", text: card.question }),
      ),
      h(
        "div",
        { class: "face face-back" },
        h("span", { class: "face-label", text: "Answer" }),
        h("p", { class: "face-text", "data-role": "answer", text: card.answer }),
      ),
    ),
    h(
      "div",
      { class: "card-actions" },
      h("button", {
        type: "button",
        class: "btn btn-secondary btn-small",
        "data-action": "flip",
        "aria-pressed": "false",
        hidden: true,
        text: "Show answer",
      }),
      h(
        "form",
        { method: "post", action: "/jobs", "data-action": "choices" },
        h("input", { type: "hidden", name: "type", value: "distractor_generation" }),
        h("input", { type: "hidden", name: "flashcardId", value: card.id }),
        h("button", { type: "submit", class: "btn btn-ghost btn-small", text: "Generate answer choices" }),
      ),
    ),
    h("div", { class: "quiz-slot", "data-role": "quiz" }),
  );
  enhanceFlashcard(item);
  return item;
}

function deckElement(cards) {
  const count = cards.length;
  const meta = h("p", {
    class: "results-meta",
    text:
      `${count} flashcard${count === 1 ? "" : "s"}. ` +
      "Flip a card to check yourself, or generate answer choices for a quiz.",
  });
  if (!count) {
    return h("div", { class: "results", "data-role": "results" }, meta,
      h("p", { class: "muted", text: "The material had nothing to make cards from." }));
  }
  return h("div", { class: "results", "data-role": "results" }, meta,
    h("ol", { class: "deck-cards" }, cards.map(flashcardElement)));
}

function treeLevel(items) {
  return h(
    "ul",
    { class: "tree-level" },
    items.map(({ node, children }) => {
      const description = node.description
        ? h("p", { class: "node-desc", text: node.description })
        : null;
      if (!children.length) {
        return h("li", { class: "tree-node" }, h("div", { class: "tree-leaf" },
          h("span", { class: "node-title", text: node.title }), description));
      }
      return h(
        "li",
        { class: "tree-node" },
        h(
          "details",
          { open: true },
          h("summary", {}, h("span", { class: "node-title", text: node.title }), " ",
            h("span", { class: "node-count", text: String(children.length) })),
          description,
          treeLevel(children),
        ),
      );
    }),
  );
}

function outline(nodes) {
  const byParent = new Map();
  for (const node of [...nodes].sort((a, b) => a.position - b.position)) {
    const key = node.parentId ?? null;
    if (!byParent.has(key)) byParent.set(key, []);
    byParent.get(key).push(node);
  }
  const build = (parent) =>
    (byParent.get(parent) || []).map((node) => ({ node, children: build(node.id) }));
  return build(null);
}

function treeElement(tree) {
  const element = h(
    "div",
    { class: "tree", "data-role": "tree" },
    h(
      "div",
      { class: "tree-toolbar" },
      h("p", { class: "tree-meta", text: `${tree.nodeCount} skills · ${tree.depth} levels deep` }),
      h(
        "div",
        { class: "tree-buttons", "data-role": "tree-buttons", hidden: true },
        h("button", { type: "button", class: "btn btn-ghost btn-small", "data-action": "expand-all", text: "Expand all" }),
        h("button", { type: "button", class: "btn btn-ghost btn-small", "data-action": "collapse-all", text: "Collapse all" }),
      ),
    ),
    treeLevel(outline(tree.nodes)),
  );
  enhanceTree(element);
  return h("div", { class: "results panel", "data-role": "results" }, element,
    h("p", {}, h("a", { href: `/trees/${tree.id}`, text: "Open this tree on its own page" })));
}

function shuffled(items) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

function quizElement(card) {
  const choices = shuffled([
    { text: card.answer, correct: true },
    ...card.distractors.map((d) => ({ text: d.text, correct: false })),
  ]);
  const element = h(
    "fieldset",
    { class: "quiz", "data-role": "quiz-set" },
    h("legend", { class: "quiz-legend", text: "Choose the answer" }),
    h(
      "div",
      { class: "choices" },
      choices.map((choice) =>
        h("button", {
          type: "button",
          class: "choice",
          "data-correct": choice.correct ? "true" : "false",
          text: choice.text,
        }),
      ),
    ),
    h("p", { class: "quiz-feedback", "data-role": "feedback", role: "status", "aria-live": "polite" }),
  );
  enhanceQuiz(element, card.answer);
  return element;
}

// ------------------------------------------------------------------ behaviours

function enhanceFlashcard(item) {
  const flip = item.querySelector('[data-role="flip"]');
  const button = item.querySelector('[data-action="flip"]');
  const back = item.querySelector(".face-back");
  const front = item.querySelector(".face-front");
  if (!flip || !button || item.dataset.enhanced) return;
  item.dataset.enhanced = "true";
  button.hidden = false;
  back.setAttribute("aria-hidden", "true");
  const toggle = () => {
    const flipped = item.classList.toggle("is-flipped");
    button.setAttribute("aria-pressed", String(flipped));
    button.textContent = flipped ? "Show question" : "Show answer";
    back.setAttribute("aria-hidden", String(!flipped));
    front.setAttribute("aria-hidden", String(flipped));
  };
  button.addEventListener("click", toggle);
  flip.addEventListener("click", toggle); // a convenience for the mouse; the button is the control

  const form = item.querySelector('form[data-action="choices"]');
  if (form) form.addEventListener("submit", (event) => {
    event.preventDefault();
    generateChoices(item, form);
  });
}

async function generateChoices(item, form) {
  const cardId = item.dataset.cardId;
  const slot = item.querySelector('[data-role="quiz"]');
  const button = form.querySelector("button");
  const status = h("p", { class: "quiz-status", role: "status", "aria-live": "polite" });
  slot.replaceChildren(status);
  button.disabled = true;
  const spinner = h("span", { class: "spinner spinner-small", "aria-hidden": "true" });
  status.append(spinner, " ", PLACEHOLDERS.distractor_generation);
  const failed = (message) => {
    button.disabled = false;
    button.textContent = "Try again";
    slot.replaceChildren(h("p", { class: "form-error", role: "alert", text: message }));
  };
  let job;
  try {
    job = await api("POST", "/api/jobs", {
      type: "distractor_generation",
      payload: { flashcardId: cardId },
    });
  } catch (err) {
    failed(describeError(err));
    return;
  }
  followJob(job.id, {
    onJob: async (update) => {
      if (update.status === "failed" || update.status === "cancelled") {
        failed(update.error || "Generating answer choices did not work.");
        return;
      }
      if (update.status !== "completed") return;
      try {
        const card = await api("GET", `/api/flashcards/${cardId}`);
        button.disabled = false;
        button.textContent = "New answer choices";
        slot.replaceChildren(quizElement(card));
        const first = slot.querySelector(".choice");
        if (first) first.focus();
      } catch (err) {
        failed(describeError(err));
      }
    },
    onGiveUp: (message) => failed(message),
  });
}

function enhanceQuiz(quiz, answer) {
  const feedback = quiz.querySelector('[data-role="feedback"]');
  const choices = [...quiz.querySelectorAll(".choice")];
  const reveal = quiz.querySelector('[data-role="reveal"]');
  if (reveal) reveal.hidden = true; // the buttons say it now
  for (const choice of choices) {
    choice.addEventListener("click", () => {
      if (quiz.dataset.answered) return;
      quiz.dataset.answered = "true";
      const right = choice.dataset.correct === "true";
      for (const other of choices) {
        other.setAttribute("aria-disabled", "true");
        if (other.dataset.correct === "true") other.classList.add("is-correct");
      }
      choice.classList.add(right ? "is-correct" : "is-wrong", "is-chosen");
      choice.setAttribute("aria-pressed", "true");
      feedback.classList.add(right ? "is-correct" : "is-wrong");
      announce(feedback, right ? "Correct!" : `Incorrect. The answer is: ${answer}`);
    });
  }
  // arrow keys move between choices, like a radio group
  quiz.addEventListener("keydown", (event) => {
    const index = choices.indexOf(document.activeElement);
    if (index < 0) return;
    const step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    event.preventDefault();
    choices[(index + step + choices.length) % choices.length].focus();
  });
}

function enhanceTree(tree) {
  const buttons = tree.querySelector('[data-role="tree-buttons"]');
  if (!buttons || tree.dataset.enhanced) return;
  tree.dataset.enhanced = "true";
  buttons.hidden = false;
  const setAll = (open) => {
    for (const details of tree.querySelectorAll("details")) details.open = open;
  };
  buttons.querySelector('[data-action="expand-all"]').addEventListener("click", () => setAll(true));
  buttons.querySelector('[data-action="collapse-all"]').addEventListener("click", () => setAll(false));
}

function enhanceAll(scope) {
  scope.querySelectorAll(".flashcard").forEach(enhanceFlashcard);
  scope.querySelectorAll('[data-role="tree"]').forEach(enhanceTree);
  scope.querySelectorAll('[data-role="quiz-set"]').forEach((quiz) => {
    const answer = quiz.querySelector('[data-correct="true"]');
    enhanceQuiz(quiz, answer ? answer.textContent : "");
  });
}

// ------------------------------------------------------------------ the job page

function initJobPage() {
  const section = document.getElementById("job");
  const body = document.getElementById("job-body");
  const statusRegion = document.getElementById("job-status");
  let job = readJsonBlock("job-data");
  if (!section || !body || !job) return;

  wireJobForms(body, job);
  if (TERMINAL.has(job.status)) return;

  let lastAnnounced = "";
  const say = (message) => {
    if (message !== lastAnnounced) {
      lastAnnounced = message;
      announce(statusRegion, message);
    }
  };

  followJob(job.id, {
    onJob: (update) => {
      job = update;
      section.dataset.status = job.status;
      updateBadge(section, job.status);
      if (!TERMINAL.has(job.status)) {
        showProgress(body, job);
        say(job.status === "pending" ? "Queued." : `${PLACEHOLDERS[job.type]} ${progressText(job)}`);
        return;
      }
      showFinished(body, job, say);
    },
    onGiveUp: (message) => {
      say(message);
      const detail = body.querySelector('[data-role="progress-text"]');
      if (detail) detail.textContent = message;
    },
  });
}

function showProgress(body, job) {
  const detail = body.querySelector('[data-role="progress-text"]');
  const bar = body.querySelector('[data-role="progress-bar"]');
  if (detail) detail.textContent = progressText(job);
  const progress = progressOf(job);
  if (bar && progress) {
    bar.max = progress.total;
    bar.value = progress.done;
  }
  if (job.cancelRequested) {
    const button = body.querySelector('[data-action="cancel"] button');
    if (button) {
      button.disabled = true;
      button.textContent = "Cancelling…";
    }
  }
}

async function showFinished(body, job, say) {
  if (job.status !== "completed") {
    body.replaceChildren(problemElement(job));
    wireJobForms(body, job);
    say(job.status === "failed" ? `Generation failed: ${job.error || ""}` : "Cancelled.");
    return;
  }
  try {
    const result = job.result || {};
    if (job.type === "flashcard_generation") {
      const { flashcards } = await api("GET", `/api/flashcards?jobId=${encodeURIComponent(job.id)}`);
      body.replaceChildren(deckElement(flashcards));
      say(`Done: ${flashcards.length} flashcard${flashcards.length === 1 ? "" : "s"} ready.`);
    } else if (job.type === "skill_tree_generation" && result.treeId) {
      const tree = await api("GET", `/api/skill-trees/${encodeURIComponent(result.treeId)}`);
      body.replaceChildren(treeElement(tree));
      say(`Done: a skill tree with ${tree.nodeCount} skills.`);
    } else if (job.type === "distractor_generation" && result.flashcardId) {
      const card = await api("GET", `/api/flashcards/${encodeURIComponent(result.flashcardId)}`);
      body.replaceChildren(
        h("div", { class: "results", "data-role": "results" },
          h("div", { class: "panel quiz-card" },
            h("p", { class: "face-label", text: "Question" }),
            h("p", { class: "quiz-question", text: card.question }),
            quizElement(card)),
          h("p", {}, h("a", { href: `/jobs/${card.jobId}`, text: "Back to the deck" }))),
      );
      say("Done: answer choices ready.");
    } else {
      body.replaceChildren(h("div", { class: "panel empty-state", "data-role": "results" },
        h("p", { text: "Done." })));
      say("Done.");
    }
  } catch (err) {
    // the work is saved; only showing it failed, and the server renders it on reload
    body.replaceChildren(h("div", { class: "panel empty-state" },
      h("p", { text: `Done, but showing the result failed: ${err.message}` }),
      h("p", {}, h("a", { class: "btn btn-secondary", href: window.location.pathname, text: "Reload" }))));
    say("Done. Reload the page to see the result.");
  }
}

function problemElement(job) {
  return h(
    "div",
    { class: "problem panel", "data-role": "problem" },
    h("h2", { text: job.status === "failed" ? "Generation failed" : "Cancelled" }),
    h("p", {
      class: "error-text",
      "data-role": "error-text",
      text: job.error || "The job stopped before it finished.",
    }),
    h(
      "form",
      { method: "post", action: `/jobs/${job.id}/retry`, "data-action": "retry" },
      h("button", { type: "submit", class: "btn btn-primary", text: "Try again" }),
    ),
  );
}

function wireJobForms(body, job) {
  enhanceAll(body);
  const retry = body.querySelector('form[data-action="retry"]');
  if (retry) retry.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = retry.querySelector("button");
    button.disabled = true;
    button.textContent = "Starting again…";
    try {
      const fresh = await api("POST", `/api/jobs/${job.id}/retry`);
      window.location.assign(`/jobs/${fresh.id}`);
    } catch (err) {
      button.disabled = false;
      button.textContent = "Try again";
      retry.append(h("p", { class: "form-error", role: "alert", text: describeError(err) }));
    }
  });
  const cancel = body.querySelector('form[data-action="cancel"]');
  if (cancel) cancel.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = cancel.querySelector("button");
    button.disabled = true;
    button.textContent = "Cancelling…";
    try {
      await api("DELETE", `/api/jobs/${job.id}`);
      // the event stream (or the poll) brings the cancelled state
    } catch (err) {
      if (err.status !== 409) {
        button.disabled = false;
        button.textContent = "Cancel";
      }
    }
  });
}

// ------------------------------------------------------------------ the dashboard

function formPayload(form) {
  const data = new FormData(form);
  const payload = {};
  for (const [name, value] of data.entries()) {
    if (name === "type" || typeof value !== "string" || !value.trim()) continue;
    const input = form.elements.namedItem(name);
    payload[name] = input && input.type === "number" ? Number(value) : value;
  }
  return { type: data.get("type"), payload };
}

function initDashboard() {
  const announcer = document.getElementById("announcer");
  for (const form of document.querySelectorAll("form[data-job-form]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      const errorBox = form.querySelector('[data-role="form-error"]');
      errorBox.hidden = true;
      button.disabled = true;
      try {
        const job = await api("POST", "/api/jobs", formPayload(form));
        announce(announcer, "Started. Opening the job…");
        window.location.assign(`/jobs/${job.id}`);
      } catch (err) {
        button.disabled = false;
        errorBox.textContent = describeError(err);
        errorBox.hidden = false;
      }
    });
  }
  watchJobList(announcer);
}

function jobTitle(job) {
  const payload = job.payload || {};
  if (job.type === "skill_tree_generation" && payload.goal) return payload.goal;
  if (job.type === "distractor_generation") return "Answer choices for a card";
  const first = String(payload.content || "")
    .split("\n")
    .map((line) => line.trim().replace(/^#+/, "").trim())
    .find((line) => line) || "Flashcards";
  const title = first.split(/\s+/).join(" ");
  return title.length <= 80 ? title : `${title.slice(0, 79).trimEnd()}…`;
}

function jobRow(job) {
  return h(
    "li",
    { class: "job-row", "data-job-id": job.id },
    h(
      "a",
      { class: "job-link", href: `/jobs/${job.id}` },
      h("span", { class: "job-type", text: TYPE_LABELS[job.type] || job.type }),
      h("span", { class: "job-title", text: jobTitle(job) }),
    ),
    statusBadge(job.status),
  );
}

function watchJobList(announcer) {
  const list = document.getElementById("job-list");
  if (!list || typeof EventSource !== "function") return;
  const known = new Map(); // job id → last status shown
  for (const row of list.querySelectorAll(".job-row")) {
    const badge = row.querySelector('[data-role="status-badge"]');
    known.set(row.dataset.jobId, badge ? badge.className.replace(/.*badge-/, "") : "");
  }
  const source = new EventSource("/api/events");
  const onEvent = (event) => {
    let job;
    try {
      job = JSON.parse(event.data);
    } catch {
      return;
    }
    let row = list.querySelector(`.job-row[data-job-id="${CSS.escape(job.id)}"]`);
    if (!row) {
      list.querySelector(".job-empty")?.remove();
      row = jobRow(job);
      list.prepend(row);
      while (list.children.length > 20) list.lastElementChild.remove();
    } else if (known.get(job.id) !== job.status) {
      updateBadge(row, job.status);
    }
    if (known.has(job.id) && known.get(job.id) !== job.status && TERMINAL.has(job.status)) {
      announce(announcer, `${TYPE_LABELS[job.type]}: ${STATUS_LABELS[job.status]}.`);
    }
    known.set(job.id, job.status);
  };
  source.addEventListener("job", onEvent);
  source.addEventListener("progress", onEvent);
  // on error the browser reconnects by itself, resuming from Last-Event-ID
  window.addEventListener("pagehide", () => source.close());
}

// ------------------------------------------------------------------ start

const page = document.body.dataset.page;
if (page === "dashboard") initDashboard();
else if (page === "job") initJobPage();
else enhanceAll(document);
