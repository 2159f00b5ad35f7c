// Replacing a part of the page with the server's fresh rendering of it.
//
// A fragment is HTML from our own server (same origin, no redirect followed, text/html),
// parsed by DOMParser into an inert document (its scripts never run, its images never
// load) and put in the page as nodes: markup is never assembled from strings here, and LLM
// text only ever arrives inside the server's autoescaped templates.

const enhancers = [];

/** Behaviours (flip, quiz, tree, forms) wire up every element the page gains. */
export function addEnhancer(enhance) {
  enhancers.push(enhance);
}

export function enhance(scope) {
  for (const run of enhancers) run(scope);
}

/** Say a sentence to screen readers through the page's polite live region. */
export function announce(message) {
  const region = document.querySelector("[data-announcer]");
  if (!region || !message) return;
  // the same words twice are announced twice: clear first, set on the next frame
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

/** Show a server-rendered notice (or a sentence) where the page reports on live updates. */
export function showNotice(content) {
  const box = document.getElementById("live-notice");
  if (!box) return;
  if (typeof content === "string") box.textContent = content;
  else box.replaceChildren(content);
}

class FragmentError extends Error {}

/** GET (or POST, with init) a fragment: its status and its one root element. */
export async function fetchFragment(url, init = {}) {
  const target = new URL(url, window.location.href);
  if (target.origin !== window.location.origin) throw new FragmentError(`not ours: ${url}`);
  const response = await fetch(target, {
    ...init,
    credentials: "same-origin",
    redirect: "error", // a redirect (to the sign-in page, say) is never swapped into a card
    headers: { Accept: "text/html" },
  });
  if (!(response.headers.get("Content-Type") || "").startsWith("text/html")) {
    throw new FragmentError(`not a fragment: ${url} (${response.status})`);
  }
  const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
  return { status: response.status, element: parsed.body.firstElementChild };
}

const versionOf = (element) => Number(element.dataset.version ?? Number.NaN);

function announcementsIn(root) {
  const spoken = new Map();
  for (const element of [root, ...root.querySelectorAll("[data-announce]")]) {
    if (element.id && element.dataset.announce !== undefined) {
      spoken.set(element.id, element.dataset.announce);
    }
  }
  return spoken;
}

/**
 * Put `fresh` where `current` is (they share an id), keeping what the person was doing:
 * the focused control, and a newer state than the response if one arrived first.
 */
export function replaceElement(current, fresh) {
  if (versionOf(fresh) < versionOf(current)) return current; // an older answer, overtaken
  const focused = current.contains(document.activeElement) ? document.activeElement.id : "";
  const before = announcementsIn(current);
  const node = document.adoptNode(fresh);
  current.replaceWith(node);
  enhance(node);
  const said = [];
  for (const [id, sentence] of announcementsIn(node)) {
    if (sentence && before.has(id) && before.get(id) !== sentence) said.push(sentence);
  }
  announce(said.join(" "));
  const arrival = node.querySelector("[data-focus-on-arrival]");
  if (arrival) arrival.focus();
  else if (focused) document.getElementById(focused)?.focus();
  document.dispatchEvent(new CustomEvent("cardforge:swapped", { detail: { element: node } }));
  return node;
}

/**
 * Fetch `url` and swap the answer in for `current`. An answer that is not `current` again
 * (the 401 and 404 notices) is shown as a notice, and `current` stops being followed.
 * Throws on a network failure; the caller decides whether to try again.
 */
export async function swap(current, url, init) {
  const { element } = await fetchFragment(url, init);
  const now = document.getElementById(current.id) || current;
  if (element && element.id && element.id === now.id) return replaceElement(now, element);
  if (element) showNotice(document.adoptNode(element));
  now.removeAttribute("data-live");
  document.dispatchEvent(new CustomEvent("cardforge:swapped", { detail: { element: now } }));
  return now;
}
