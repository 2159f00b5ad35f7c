// cardforge: the page's behaviours, one module each (web/static/js/).
//
// The pages work without script: every button is also a form post, and finished work is in
// the HTML. Scripts add live updates (live.js, polling.js: the server renders every change
// as a fragment, swap.js puts it in), in-place forms (forms.js), flip cards (flip.js),
// quizzes (quiz.js, and deck_quiz.js for a whole deck), keyboard review (review.js) and
// collapsible trees (tree.js). None of them builds markup.

import * as deckQuiz from "./js/deck_quiz.js";
import * as flip from "./js/flip.js";
import * as forms from "./js/forms.js";
import * as live from "./js/live.js";
import * as quiz from "./js/quiz.js";
import * as review from "./js/review.js";
import { addEnhancer, enhance } from "./js/swap.js";
import * as tree from "./js/tree.js";

document.documentElement.classList.add("js");

for (const behaviour of [flip, quiz, deckQuiz, review, tree, forms]) addEnhancer(behaviour.enhance);
enhance(document);
forms.start();
review.start();
live.start();
