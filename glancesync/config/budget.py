"""What one evaluation of a ``metadata_condition`` may cost.

The condition language has no loops, so the number of interpreter steps is
bounded by the length of the text; the cost that is not bounded is the work
the operations do on the data: comparing, searching and hashing strings and
containers. Some of it is quadratic in CPython (a reverse search such as
``rfind`` compares up to ``len(haystack) * len(needle)`` characters), so a
4,000-character condition could keep one image busy for many seconds.

Each evaluation therefore gets a :class:`Budget` of :data:`STEP_BUDGET`
steps. A step is one node of the expression evaluated, or one character or
element an operation may have to look at; an operation is charged its worst
case *before* it runs, so an overrun stops the evaluation before the work is
done. The rule is documented in doc/configuration.rst (``metadata_condition``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from itertools import chain
from types import MappingProxyType
from typing import Any

#: Steps one evaluation may take, for one image.
STEP_BUDGET = 1_000_000
#: Longest argument, in characters, of a search from the end of a string.
MAX_REVERSE_ARGUMENT = 100

#: String methods that search from the end: CPython's reverse search has no
#: linear worst case, so they cost ``len(receiver) * len(argument)``.
REVERSE_SEARCHES = frozenset({"rfind", "rsplit", "rindex", "rpartition", "rcount"})
#: Methods whose argument is a set of characters tried at every position.
_STRIPS = frozenset({"strip", "lstrip", "rstrip"})
#: Containers that find a member by hashing, not by comparing them all.
_HASHED: tuple[type, ...] = (
    dict,
    MappingProxyType,
    set,
    frozenset,
    type({}.keys()),
    type({}.items()),
)
_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict, MappingProxyType, *_VIEWS})


class BudgetExceeded(Exception):
    """An evaluation would take more than its :data:`STEP_BUDGET`."""


class Budget:
    """The steps left to one evaluation, and the sizes of the values it met."""

    def __init__(self, steps: int = STEP_BUDGET) -> None:
        self.limit = steps
        self.used = 0
        # id -> (value, weight): the value is kept so its id cannot be reused.
        self._weights: dict[int, tuple[Any, int]] = {}

    def charge(self, steps: int) -> None:
        """Take *steps*, or raise :class:`BudgetExceeded` if too few are left."""
        self.used += max(steps, 0)
        if self.used > self.limit:
            raise BudgetExceeded(f"condition needs more than {self.limit} steps for one image")

    def weight(self, value: Any) -> int:
        """Worst-case work of comparing or hashing *value*: characters plus
        elements, nested containers included. Weighing is charged too."""
        if type(value) is str:
            return len(value) + 1
        if type(value) is int:
            return value.bit_length() // 30 + 1
        if type(value) not in _CONTAINERS:
            return 1
        known = self._weights.get(id(value))
        if known is not None:
            return known[1]
        if type(value) in _VIEWS:
            total = self.weight(value.mapping)
        else:
            self.charge(len(value))  # the visit itself is work
            parts: Iterable[Any] = value
            if isinstance(value, (dict, MappingProxyType)):
                parts = chain.from_iterable(value.items())
            total = 1
            for part in parts:
                total += self.weight(part)
                if self.used + total > self.limit:
                    self.charge(total)
        self._weights[id(value)] = (value, total)
        return total


def size(value: Any) -> int:
    """Shallow size: what building or copying *value* costs."""
    if isinstance(value, (str, list, tuple, set, frozenset, dict, MappingProxyType)):
        return len(value) + 1
    if type(value) is int:
        return value.bit_length() // 30 + 1
    return 1


def binary_cost(budget: Budget, op: ast.operator, left: Any, right: Any) -> int:
    """Worst case of ``left op right`` (repetition is bounded apart)."""
    numbers = (int, float, bool)
    if isinstance(left, numbers) and isinstance(right, numbers):
        if isinstance(op, (ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)):
            return size(left) * size(right)
        return size(left) + size(right)
    if isinstance(op, ast.Mult):
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        return size(seq) * max(times, 1) if isinstance(times, int) else 1
    if isinstance(op, ast.Add):
        return size(left) + size(right)
    return budget.weight(left) + budget.weight(right)  # set difference and the like


def compare_cost(budget: Budget, op: ast.cmpop, left: Any, right: Any) -> int:
    """Worst case of one comparison: membership by hash is cheap, by scan is not."""
    if isinstance(op, (ast.Is, ast.IsNot)):
        return 1
    if isinstance(op, (ast.In, ast.NotIn)):
        if type(right) is str:
            return size(right) + size(left)
        if isinstance(right, _HASHED):
            return 2 * budget.weight(left)  # hash, then compare on a hit
        return budget.weight(right) + budget.weight(left)
    return budget.weight(left) + budget.weight(right)


def call_cost(budget: Budget, receiver: Any, name: str, args: list[Any]) -> int:
    """Worst case of ``receiver.name(*args)`` for the whitelisted methods."""
    if isinstance(receiver, (dict, MappingProxyType)):
        return 1 + sum(budget.weight(arg) for arg in args)  # get, keys, values, items
    if type(receiver) is str:
        chars = args[0] if args and type(args[0]) is str else None
        if name in REVERSE_SEARCHES and chars is not None:
            return size(receiver) * size(chars)
        if name in _STRIPS and chars is not None:
            return size(receiver) * size(chars)
        return size(receiver) + sum(budget.weight(arg) for arg in args)
    return budget.weight(receiver) + sum(budget.weight(arg) for arg in args)
