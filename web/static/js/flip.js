// Flip cards: the button (hidden without script, where both faces show) turns the card.
// Its words come from the markup: the label it has, and data-flipped-text.

function enhanceCard(card) {
  const flip = card.querySelector('[data-role="flip"]');
  const button = card.querySelector('[data-action="flip"]');
  const front = card.querySelector(".face-front");
  const back = card.querySelector(".face-back");
  if (!flip || !button || !front || !back || card.dataset.enhanced) return;
  card.dataset.enhanced = "true";
  const unflippedText = button.textContent;
  button.hidden = false;
  back.setAttribute("aria-hidden", "true");
  const toggle = () => {
    const flipped = card.classList.toggle("is-flipped");
    button.setAttribute("aria-pressed", String(flipped));
    button.textContent = flipped ? button.dataset.flippedText : unflippedText;
    back.setAttribute("aria-hidden", String(!flipped));
    front.setAttribute("aria-hidden", String(flipped));
  };
  button.addEventListener("click", toggle);
  flip.addEventListener("click", toggle); // a convenience for the mouse; the button is the control
}

export function enhance(scope) {
  scope.querySelectorAll(".flashcard").forEach(enhanceCard);
}
