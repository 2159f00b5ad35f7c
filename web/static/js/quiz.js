// Answer-choice quizzes: choose by mouse or keyboard, hear whether it was right. The
// sentences come from the markup (data-correct-text, data-wrong-text on the feedback).

function say(feedback, message) {
  // the feedback line is its own live region: clear, then set on the next frame
  feedback.textContent = "";
  requestAnimationFrame(() => {
    feedback.textContent = message;
  });
}

function enhanceQuiz(quiz) {
  if (quiz.dataset.enhanced) return;
  quiz.dataset.enhanced = "true";
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
      say(feedback, right ? feedback.dataset.correctText : feedback.dataset.wrongText);
      quiz.dispatchEvent(
        new CustomEvent("cardforge:answered", { bubbles: true, detail: { correct: right } }),
      );
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

export function enhance(scope) {
  scope.querySelectorAll('[data-role="quiz-set"]').forEach(enhanceQuiz);
}
