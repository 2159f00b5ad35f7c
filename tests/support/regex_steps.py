"""How much work a regular expression does on a text, counted, not timed.

A model of the backtracking that Python's ``re`` engine does: the pattern is parsed with
``re._parser`` (the engine's own parser) and matched by the same rules, in the same order
(greedy, lazy and possessive repeats, atomic groups, look-ahead and look-behind, anchors),
counting one step for each node tried and each character a repeat consumes. The count is
a pure function of the pattern and the text, so a test built on it gives the same answer
on an idle laptop and on a loaded shared machine.

It models the engine's search, not its shortcuts: ``re`` skips start positions with a
literal prefix and checks a repeat's next literal before it backtracks, which changes
the constant, never linear into quadratic or back. ``tests/unit/test_offline_redos.py``
checks that the model finds the quadratic and cubic patterns this project once shipped.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

Continuation = Callable[[int], bool]
_SINGLE = {C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN}


def count_steps(pattern: re.Pattern[str], text: str, *, method: str = "finditer") -> int:
    """Steps the engine takes for ``pattern.<method>(text)``: match, fullmatch, search,
    or finditer (what findall, split and sub do too)."""
    matcher = _Matcher(pattern, text)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        if method in ("match", "fullmatch"):
            matcher.attempt(0, full=method == "fullmatch")
        elif method == "search":
            for start in range(len(text) + 1):
                if matcher.attempt(start) is not None:
                    break
        elif method == "finditer":
            start = 0
            while start <= len(text):
                end = matcher.attempt(start)
                start = start + 1 if end is None or end == start else end
        else:
            raise ValueError(method)
    finally:
        sys.setrecursionlimit(limit)
    return matcher.steps


def match_end(pattern: re.Pattern[str], text: str) -> int | None:
    """Where the model's match at the start of ``text`` ends (None: no match), to check
    the model against the engine."""
    return _Matcher(pattern, text).attempt(0)


class _Matcher:
    def __init__(self, pattern: re.Pattern[str], text: str) -> None:
        self.tree = P.parse(pattern.pattern, pattern.flags)
        self.flags = pattern.flags
        self.text = text
        self.steps = 0

    def attempt(self, start: int, *, full: bool = False) -> int | None:
        """The end of a match at ``start``, or None."""
        self.steps += 1
        ends: list[int] = []

        def done(end: int) -> bool:
            if full and end != len(self.text):
                return False
            ends.append(end)
            return True

        self.seq(list(self.tree), 0, start, done)
        return ends[0] if ends else None

    # ------------------------------------------------------------ sequences and nodes

    def seq(self, items: list[tuple[Any, Any]], index: int, at: int, k: Continuation) -> bool:
        if index == len(items):
            return k(at)
        op, av = items[index]
        self.steps += 1

        def rest(j: int) -> bool:
            return self.seq(items, index + 1, j, k)

        if op in _SINGLE:
            return at < len(self.text) and self.char(op, av, self.text[at]) and rest(at + 1)
        if op is C.AT:
            return self.at(av, at) and rest(at)
        if op is C.SUBPATTERN:
            return self.seq(list(av[3]), 0, at, rest)
        if op is C.BRANCH:
            return any(self.seq(list(alt), 0, at, rest) for alt in av[1])
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            return self.repeat(op, av, at, rest)
        if op is C.ATOMIC_GROUP:
            end = self.first_end(list(av), at)
            return end is not None and rest(end)
        if op in (C.ASSERT, C.ASSERT_NOT):
            return self.lookaround(op, av, at) and rest(at)
        raise NotImplementedError(f"regex_steps does not model {op}")

    def first_end(self, items: list[tuple[Any, Any]], at: int) -> int | None:
        ends: list[int] = []
        self.seq(items, 0, at, lambda j: ends.append(j) is None)
        return ends[0] if ends else None

    def lookaround(self, op: Any, av: Any, at: int) -> bool:
        direction, sub = av
        if direction == 1:
            found = self.first_end(list(sub), at) is not None
        else:
            width = sub.getwidth()[0]
            start = at - width
            found = start >= 0 and self._ends_at(list(sub), start, at)
        return found if op is C.ASSERT else not found

    def _ends_at(self, items: list[tuple[Any, Any]], start: int, end: int) -> bool:
        return self.seq(items, 0, start, lambda j: j == end)

    def repeat(self, op: Any, av: Any, at: int, k: Continuation) -> bool:
        low, high, sub = av
        high = len(self.text) + 1 if high is C.MAXREPEAT else high
        items = list(sub)
        if len(items) == 1 and items[0][0] in _SINGLE:
            return self.repeat_one(op, items[0], low, high, at, k)
        if op is C.POSSESSIVE_REPEAT:
            count, end = 0, at
            while count < high:
                nxt = self.first_end(items, end)
                if nxt is None or nxt == end:
                    break
                count, end = count + 1, nxt
            return count >= low and k(end)
        greedy = op is C.MAX_REPEAT

        def again(count: int, pos: int) -> bool:
            self.steps += 1
            if count < low:
                return self.seq(items, 0, pos, lambda j: again(count + 1, j))
            more = count < high and (
                lambda: self.seq(items, 0, pos, lambda j: j != pos and again(count + 1, j))
            )
            if greedy:
                return bool(more and more()) or k(pos)
            return k(pos) or bool(more and more())

        return again(0, at)

    def repeat_one(
        self, op: Any, item: tuple[Any, Any], low: int, high: int, at: int, k: Continuation
    ) -> bool:
        """A repeat of one character class: the engine's fast loop, no nesting."""
        kind, av = item
        text = self.text
        count = 0
        if op is C.MIN_REPEAT:
            while True:
                if count >= low:
                    self.steps += 1
                    if k(at + count):
                        return True
                if count >= high or at + count >= len(text) or not self.char(
                    kind, av, text[at + count]
                ):
                    return False
                self.steps += 1
                count += 1
        while count < high and at + count < len(text) and self.char(kind, av, text[at + count]):
            count += 1
        self.steps += count
        if op is C.POSSESSIVE_REPEAT:
            return count >= low and k(at + count)
        for taken in range(count, low - 1, -1):
            self.steps += 1
            if k(at + taken):
                return True
        return False

    # ------------------------------------------------------------ single characters

    def char(self, op: Any, av: Any, ch: str) -> bool:
        ignore = bool(self.flags & re.IGNORECASE)
        if op is C.ANY:
            return ch != "\n" or bool(self.flags & re.DOTALL)
        if op is C.LITERAL:
            return ch == chr(av) or (ignore and ch.lower() == chr(av).lower())
        if op is C.NOT_LITERAL:
            return not (ch == chr(av) or (ignore and ch.lower() == chr(av).lower()))
        return self.in_class(av, ch, ignore)

    def in_class(self, items: list[tuple[Any, Any]], ch: str, ignore: bool) -> bool:
        negate = False
        found = False
        forms = {ch, ch.lower(), ch.upper()} if ignore else {ch}
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                found = found or any(f == chr(av) for f in forms)
            elif op is C.RANGE:
                found = found or any(av[0] <= ord(f) <= av[1] for f in forms)
            elif op is C.CATEGORY:
                found = found or _category(av, ch)
            else:
                raise NotImplementedError(f"regex_steps does not model {op} in a class")
        return found != negate

    def at(self, where: Any, at: int) -> bool:
        text, multiline = self.text, bool(self.flags & re.MULTILINE)
        if where is C.AT_BEGINNING:
            return at == 0 or (multiline and text[at - 1] == "\n")
        if where is C.AT_BEGINNING_STRING:
            return at == 0
        if where is C.AT_END:
            if at == len(text) or (multiline and text[at] == "\n"):
                return True
            return at == len(text) - 1 and text[at] == "\n"
        if where is C.AT_END_STRING:
            return at == len(text)
        before = at > 0 and _is_word(text[at - 1])
        after = at < len(text) and _is_word(text[at])
        if where is C.AT_BOUNDARY:
            return before != after
        if where is C.AT_NON_BOUNDARY:
            return before == after
        raise NotImplementedError(f"regex_steps does not model {where}")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _category(category: Any, ch: str) -> bool:
    tests: dict[Any, Callable[[str], bool]] = {
        C.CATEGORY_DIGIT: str.isdigit,
        C.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
        C.CATEGORY_SPACE: str.isspace,
        C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
        C.CATEGORY_WORD: _is_word,
        C.CATEGORY_NOT_WORD: lambda c: not _is_word(c),
    }
    if category not in tests:
        raise NotImplementedError(f"regex_steps does not model {category}")
    return tests[category](ch)
