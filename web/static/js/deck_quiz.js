// A quiz over a whole deck: one question at a time, the score at the end. Without this
// file every question shows at once, each with its own "Show the answer". The words are in
// the markup: the buttons' labels, and the score sentence's data-template.

function enhanceDeckQuiz(root) {
  if (root.dataset.enhanced) return;
  root.dataset.enhanced = "true";
  const questions = [...root.querySelectorAll('[data-role="quiz-question"]')];
  const score = root.querySelector('[data-role="quiz-score"]');
  let right = 0;
  const show = (index) => {
    questions.forEach((question, i) => {
      question.hidden = i !== index;
    });
    questions[index]?.querySelector(".choice")?.focus();
  };
  questions.forEach((question, index) => {
    const next = question.querySelector('[data-action="next-question"]');
    question.addEventListener("cardforge:answered", (event) => {
      if (event.detail.correct) right += 1;
      next.hidden = false;
      next.focus();
    });
    next.addEventListener("click", () => {
      if (index + 1 < questions.length) {
        show(index + 1);
        return;
      }
      question.hidden = true;
      const text = score.querySelector('[data-role="score-text"]');
      text.textContent = text.dataset.template
        .replace("{right}", String(right))
        .replace("{total}", String(questions.length));
      score.hidden = false;
      score.focus();
    });
  });
  show(0);
}

export function enhance(scope) {
  scope.querySelectorAll('[data-role="deck-quiz"]').forEach(enhanceDeckQuiz);
}
