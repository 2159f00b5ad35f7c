"""A skill tree for a goal alone, when the offline provider has no material to read.

Without notes there is nothing to extract, so this is a general path of learning that fits
any goal (get oriented, learn the terms, understand the core ideas, practise, apply), and
it says so in the root's description: the learner is never led to think it was built from
their subject. Pasting notes gives a tree built from them instead.
"""

from __future__ import annotations

from handlers.models import NodeDraft
from handlers.providers.outline import ROOT_KEY

GENERAL_OUTLINE_LABEL = "A general outline: add your notes for a tree built from them."

# (title, description, [(title, description), ...]): level 2 and level 3 under the root
_STAGES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("Get oriented", "What the subject covers, why it matters and where it is used.", (
        ("Say in one sentence what it is about",
         "Write a one-sentence summary, then check it against an introduction."),
        ("Choose one good introduction to follow",
         "A textbook chapter, a course or a guide: one source to come back to."),
    )),
    ("Learn the key terms", "The vocabulary the rest of the subject is built on.", (
        ("List the terms every introduction uses",
         "The words that come up again and again, with a short definition each."),
        ("Explain each term in your own words",
         "If you cannot say it simply, read that part again."),
    )),
    ("Understand the core ideas", "The main ideas, and how they fit together.", (
        ("Explain how the main ideas connect",
         "Draw or write how one idea leads to, or depends on, another."),
        ("Work through a simple example",
         "Follow one worked example step by step, then do it without looking."),
    )),
    ("Practise", "Recall and use what you learned, spaced out over days.", (
        ("Answer questions from memory",
         "Test yourself before rereading: recalling is what makes it stick."),
        ("Find and fix your mistakes",
         "Note what you got wrong, and why, and review it again later."),
    )),
    ("Apply and go further", "Use the subject on something of your own.", (
        ("Use it on a problem of your own",
         "A small project or a real question where the goal matters to you."),
        ("Pick the next topic to learn",
         "What your introduction treats as the next step."),
    )),
)


def general_outline(goal: str, *, max_depth: int) -> list[NodeDraft]:
    """Pre-ordered nodes: the goal as the root (labelled as a general outline), five stages
    under it and two steps under each, cut to ``max_depth`` levels."""
    nodes = [NodeDraft(key=ROOT_KEY, title=goal, description=GENERAL_OUTLINE_LABEL)]
    if max_depth < 2:
        return nodes
    for i, (title, description, steps) in enumerate(_STAGES, start=1):
        stage = f"s{i}"
        nodes.append(NodeDraft(key=stage, parent=ROOT_KEY, title=title, description=description))
        if max_depth < 3:
            continue
        nodes.extend(
            NodeDraft(key=f"{stage}.{j}", parent=stage, title=step, description=why)
            for j, (step, why) in enumerate(steps, start=1)
        )
    return nodes
