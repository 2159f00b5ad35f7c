// A review session from the keyboard: Space shows the answer, then 1-4 rate it (Again,
// Hard, Good, Easy), as in Anki. The controls are the page's own: the <details> that holds
// the answer and one form per rating (posted in place by forms.js, which brings the next
// card). Keys are ignored while typing in a field, with a modifier, on auto-repeat, and
// while a rating is on its way (its button is disabled until the next card arrives).

const FIELDS = "input, textarea, select, [contenteditable]";

function onKey(event) {
  const review = document.getElementById("review");
  if (!review || event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target instanceof Element && event.target.closest(FIELDS)) return;
  const reveal = review.querySelector('[data-role="reveal"]');
  if (!reveal) return;
  if (event.key === " " || event.key === "Enter") {
    // on a focused control, Space and Enter already do what it says
    if (event.target instanceof Element && event.target.closest("summary, button, a")) return;
    event.preventDefault();
    reveal.open = !reveal.open;
    return;
  }
  const form = review.querySelector(`form[data-rating-key="${event.key}"]`);
  if (!form || !reveal.open) return;
  const button = form.querySelector('button[type="submit"]');
  if (!button || button.disabled) return;
  event.preventDefault();
  form.requestSubmit(button);
}

export function enhance(scope) {
  // the answer opened: its first rating button takes the focus, so Tab and Enter work too
  for (const reveal of scope.querySelectorAll('#review [data-role="reveal"]')) {
    if (reveal.dataset.enhanced) continue;
    reveal.dataset.enhanced = "true";
    reveal.addEventListener("toggle", () => {
      if (reveal.open) reveal.querySelector(".rating")?.focus();
    });
  }
}

export function start() {
  document.addEventListener("keydown", onKey);
}
