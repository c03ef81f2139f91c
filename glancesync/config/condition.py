"""Safe conditions for the ``metadata_condition`` setting.

The old glancesync passed ``metadata_condition`` to Python's ``eval``, so a
configuration file could run any code. Here the text is parsed with
:mod:`ast` and only a small, closed subset of Python expressions is accepted,
then run by a tree-walking interpreter that knows every node it may meet.

Everything that can be known from the text is checked when the configuration
is loaded, so a bad condition stops the run before it touches a region. What
only the data tells (the type of a value read from an image, the size of a
repetition) is checked again while evaluating, and every failure there is a
:class:`ConditionError` the caller can log as "image not selected". Each
evaluation also has a step budget (:mod:`glancesync.config.budget`), so no
condition can keep one image busy for long.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from glancesync.config import budget as cost
from glancesync.config.budget import MAX_REVERSE_ARGUMENT, REVERSE_SEARCHES, Budget
from glancesync.config.grammar import (
    _BINARY,
    _COMPARE,
    _SCALARS,
    _UNARY,
    _VALUE_TYPES,
    MAX_LENGTH,
    MAX_REPEAT,
    METHODS,
    _parse,
    long_reverse,
)
from glancesync.config.grammar import ConditionError as ConditionError


@dataclass(frozen=True)
class Condition:
    """A validated condition. Pickles as its source, re-validated on load."""

    source: str
    _tree: ast.Expression = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tree", _parse(self.source))

    def __reduce__(self) -> tuple[type[Condition], tuple[str]]:
        return (Condition, (self.source,))

    def evaluate(
        self, image: object, metadata_set: frozenset[str], budget: Budget | None = None
    ) -> bool:
        """Whether ``image`` is selected; any failure is a :class:`ConditionError`.

        *budget* is the evaluation's step budget, a fresh one by default;
        its ``used`` tells afterwards what the evaluation cost."""
        try:
            return bool(_Run(image, metadata_set, budget or Budget()).eval(self._tree.body))
        except ConditionError:
            raise
        except cost.BudgetExceeded as error:
            raise ConditionError(str(error)) from None
        except KeyError as error:
            raise ConditionError(f"key {error} not found") from None
        except Exception as error:  # bad image data must not end the run
            raise ConditionError(f"{type(error).__name__}: {error}") from None


def compile_condition(text: str) -> Condition:
    """Validate ``text`` and return its :class:`Condition`."""
    return Condition(text)


class _Run:
    """One evaluation: the interpreter over a tree :func:`_check` accepted."""

    def __init__(self, image: object, metadata_set: frozenset[str], budget: Budget) -> None:
        self.image = image
        self.metadata_set = metadata_set
        self.budget = budget

    def eval(self, node: ast.AST) -> Any:
        self.budget.charge(1)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):  # only metadata_set gets here
            return _value(self.metadata_set, "metadata_set")
        if isinstance(node, ast.Attribute):
            try:
                value = getattr(self.image, node.attr)
            except AttributeError:
                raise ConditionError(f"image has no attribute {node.attr!r}") from None
            return _value(value, f"image.{node.attr}")
        if isinstance(node, ast.BoolOp):
            result = None
            for operand in node.values:
                result = self.eval(operand)
                if bool(result) == isinstance(node.op, ast.Or):
                    break
            return result
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.eval(node.operand))
        if isinstance(node, ast.BinOp):
            return _binary(self.budget, node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator)
                self.budget.charge(cost.compare_cost(self.budget, op, left, right))
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.eval(node.body if self.eval(node.test) else node.orelse)
        if isinstance(node, ast.Subscript):
            container, key = self.eval(node.value), self.eval(node.slice)
            if type(container) not in (str, list, tuple, dict, MappingProxyType):
                raise ConditionError(f"{type(container).__name__} cannot be subscripted")
            sliced = isinstance(key, slice)
            self.budget.charge(cost.size(container) if sliced else self.budget.weight(key))
            return _value(container[key], "subscript")
        if isinstance(node, ast.Slice):
            parts = (node.lower, node.upper, node.step)
            return slice(*(None if part is None else self.eval(part) for part in parts))
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = [self.eval(element) for element in node.elts]
            kind: type = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
            hashed = sum(map(self.budget.weight, items)) if kind is set else 0
            self.budget.charge(len(items) + hashed)
            return kind(items)
        if isinstance(node, ast.Dict):
            both = zip(node.keys, node.values, strict=True)
            pairs = [(self.eval(k), self.eval(v)) for k, v in both if k]
            self.budget.charge(len(pairs) + sum(self.budget.weight(k) for k, _ in pairs))
            return dict(pairs)
        raise ConditionError(f"{type(node).__name__} cannot be evaluated")  # unreachable

    def call(self, node: ast.Call) -> Any:
        args = [self.eval(arg) for arg in node.args]
        if isinstance(node.func, ast.Name):  # only len gets here
            return len(args[0])
        assert isinstance(node.func, ast.Attribute)
        receiver, name = self.eval(node.func.value), node.func.attr
        if name not in METHODS.get(type(receiver), frozenset()):
            raise ConditionError(f"method {name!r} of {type(receiver).__name__} is not allowed")
        if name in REVERSE_SEARCHES and args and len(str(args[0])) > MAX_REVERSE_ARGUMENT:
            raise ConditionError(long_reverse(name))
        self.budget.charge(cost.call_cost(self.budget, receiver, name, args))
        if name == "replace" and len(args) > 1 and type(args[0]) is type(args[1]) is str:
            hits = receiver.count(args[0])  # checked before building the string
            if len(args) > 2 and type(args[2]) is int and args[2] >= 0:
                hits = min(hits, args[2])
            _sized(None, len(receiver) + hits * (len(args[1]) - len(args[0])))
        return _value(_sized(getattr(receiver, name)(*args)), f"{name}()")


def _binary(budget: Budget, op: ast.operator, left: Any, right: Any) -> Any:
    """Apply ``op``, refusing the results that would eat memory or CPU."""
    if isinstance(op, ast.Mod) and isinstance(left, (str, bytes)):
        raise ConditionError("string formatting with '%' is not allowed")
    if isinstance(op, ast.Mult):
        for seq, times in ((left, right), (right, left)):
            if not isinstance(seq, (str, list, tuple)) or not isinstance(times, int):
                continue
            if len(seq) * max(times, 0) > MAX_REPEAT:
                raise ConditionError(f"repetition of more than {MAX_REPEAT} elements")
            # Repeated containers would let ``[[[0]*k]*k]*k == ...`` compare
            # k**3 elements from a few characters; scalars cost only memory.
            if not isinstance(seq, str) and any(type(x) not in _SCALARS for x in seq):
                raise ConditionError("repetition of a sequence of containers")
    budget.charge(cost.binary_cost(budget, op, left, right))
    return _sized(_BINARY[type(op)](left, right))


def _sized(value: Any, length: int | None = None) -> Any:
    """Refuse strings and containers longer than :data:`MAX_LENGTH`."""
    if length is None and isinstance(value, (str, list, tuple, set, frozenset, dict)):
        length = len(value)
    if length is not None and length > MAX_LENGTH:
        raise ConditionError(f"result longer than {MAX_LENGTH} elements")
    return value


def _value(value: Any, what: str) -> Any:
    """Refuse values of unknown types, so none of their code is run."""
    if type(value) not in _VALUE_TYPES:
        raise ConditionError(f"{what} has unsupported type {type(value).__name__!r}")
    return value
