// Forms. Every form is a plain post that works without this file; here they get:
// - data-fragment-action: posted in place; the answer is the fragment the form sits in
//   (a card's answer choices, the job section after Cancel), swapped in without a reload;
// - every other post: its button is disabled while the next page loads (no double jobs).

import { swap } from "./swap.js";

async function submitInPlace(form) {
  const target = form.closest("[data-fragment][id]");
  const button = form.querySelector('button[type="submit"]');
  if (button) button.disabled = true; // the fragment that comes back says what it is now
  try {
    await swap(target, form.dataset.fragmentAction, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
    });
  } catch {
    form.submit(); // could not swap in place: the plain post shows what happened
  }
}

export function enhance(scope) {
  for (const form of scope.querySelectorAll("form[data-fragment-action]")) {
    if (form.dataset.enhanced) continue;
    form.dataset.enhanced = "true";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitInPlace(form);
    });
  }
}

export function start() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || form.method !== "post") return;
    form.querySelector('button[type="submit"]')?.setAttribute("disabled", "");
  });
  // back to a page whose button was disabled on the way out: usable again
  window.addEventListener("pageshow", () => {
    const stuck = 'form:not([data-fragment-action]) button[type="submit"][disabled]';
    for (const button of document.querySelectorAll(stuck)) button.disabled = false;
  });
}
