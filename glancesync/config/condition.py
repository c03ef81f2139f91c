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
import io
import operator
import tokenize
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from glancesync.config import budget as cost
from glancesync.config.budget import MAX_REVERSE_ARGUMENT, REVERSE_SEARCHES, Budget

MAX_SOURCE = 4_000  #: Longest condition text accepted.
MAX_DEPTH = 50  #: Deepest syntax tree (and bracket nesting) accepted.
MAX_REPEAT = 10_000  #: Most elements a ``sequence * int`` may produce.
MAX_LENGTH = 100_000  #: Longest string or container any step may produce.
MAX_CONST_PRODUCT = 10**12  #: Largest product of integer literals.

#: The only attributes ever read from the image.
IMAGE_ATTRIBUTES = frozenset(
    {"id", "name", "owner", "size", "region", "is_public", "visibility"}
    | {"checksum", "status", "user_properties"}
)

_STR = frozenset(
    {"startswith", "endswith", "lower", "upper", "casefold", "strip", "lstrip"}
    | {"rstrip", "split", "rsplit", "count", "find", "rfind", "index", "replace"}
    | {"isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper"}
)
_DICT = frozenset({"get", "keys", "values", "items"})
_SET = frozenset(
    {"intersection", "union", "difference", "symmetric_difference", "issubset"}
    | {"issuperset", "isdisjoint"}
)
_SEQ = frozenset({"count", "index"})

#: Methods callable per receiver type; exact types, so no subclass can
#: override a whitelisted name with something else.
METHODS: dict[type, frozenset[str]] = {str: _STR, dict: _DICT, MappingProxyType: _DICT}
METHODS |= {set: _SET, frozenset: _SET, list: _SEQ, tuple: _SEQ}
METHOD_NAMES: frozenset[str] = frozenset().union(*METHODS.values())

#: Types a value may have; anything else read from an image is refused, so
#: the interpreter never calls into an unknown object's operators.
_VIEWS = {type({}.keys()), type({}.values()), type({}.items())}
_SCALARS = frozenset({type(None), bool, int, float, str})
_VALUE_TYPES = frozenset({type(None), bool, int, float, *METHODS, *_VIEWS})

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_SYMBOLS: dict[type[ast.AST], str] = {ast.Pow: "**", ast.MatMult: "@", ast.Invert: "~"}
_SYMBOLS |= {ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&"}
_SYMBOLS |= {ast.BitXor: "^"}
_PLAIN = (ast.BoolOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice)
_DISPLAYS = (ast.Tuple, ast.List, ast.Set, ast.Dict)
_NAMES = {
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.NamedExpr: "assignment expression ':='",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.Starred: "starred expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class ConditionError(ValueError):
    """A condition that cannot be compiled or evaluated; the message is one line."""

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split())
        super().__init__(text if len(text) <= 300 else text[:297] + "...")


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


def _parse(source: str) -> ast.Expression:
    """Parse and validate; continuation lines become spaces (config files)."""
    if not isinstance(source, str):
        raise ConditionError("condition must be a string")
    if len(source) > MAX_SOURCE:
        raise ConditionError(f"condition longer than {MAX_SOURCE} characters")
    text = source.replace("\\\r\n", " ").replace("\\\n", " ")
    text = " ".join(text.splitlines()).strip()
    if not text:
        raise ConditionError("condition is empty")
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence"
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
        nesting = _bracket_depth(text)
    except SyntaxError as error:
        raise ConditionError(f"syntax error at column {error.offset or 0}") from None
    except (
        ValueError,
        RecursionError,
        MemoryError,
        OverflowError,
        tokenize.TokenError,
    ):
        raise ConditionError("condition cannot be parsed") from None
    if nesting > MAX_DEPTH:
        raise ConditionError(f"brackets nested deeper than {MAX_DEPTH} levels")
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:  # iterative, so depth is known before any recursion
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConditionError(f"expression nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    _check(tree.body)
    return tree


def _bracket_depth(text: str) -> int:
    """Deepest bracket nesting: brackets leave no node, yet cost the parser."""
    depth = deepest = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
    return deepest


def _is_image(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "image"


def _check(node: ast.AST) -> None:
    """Reject, with a one-line reason, every node outside the language."""
    if isinstance(node, ast.Constant):
        if type(node.value) not in (str, int, float, bool, type(None)):
            raise ConditionError(f"{type(node.value).__name__} literals are not allowed")
        return
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ConditionError(f"name {node.id!r} is not allowed")
        if node.id == "image":
            raise ConditionError("'image' may only be used as image.<attribute>")
        if node.id != "metadata_set":
            raise ConditionError(f"name {node.id!r} is not defined")
        return
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_") or not _is_image(node.value):
            raise ConditionError(f"attribute {node.attr!r} is not allowed")
        if node.attr not in IMAGE_ATTRIBUTES:
            raise ConditionError(f"image attribute {node.attr!r} is not allowed")
        return
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "len":
            if len(node.args) != 1:
                raise ConditionError("len() takes exactly one argument")
        elif isinstance(func, ast.Attribute) and func.attr in METHOD_NAMES:
            if _is_image(func.value):
                raise ConditionError(f"call of {func.attr!r} on image is not allowed")
            _check(func.value)
        else:
            name = getattr(func, "id", None) or getattr(func, "attr", None) or "an expression"
            raise ConditionError(f"call of {name!r} is not allowed")
        if node.keywords:
            raise ConditionError("keyword arguments are not allowed")
        for arg in node.args:
            _check(arg)
            if isinstance(func, ast.Attribute) and func.attr in REVERSE_SEARCHES:
                known = _static(arg)
                if known and known[0] == "seq" and known[1] > MAX_REVERSE_ARGUMENT:
                    raise ConditionError(_long_reverse(func.attr))
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ConditionError(f"operator {_SYMBOLS.get(type(node.op), '?')!r} is not allowed")
        left = node.left
        if (
            isinstance(node.op, ast.Mod)
            and isinstance(left, ast.Constant)
            and isinstance(left.value, str)
        ):
            raise ConditionError("string formatting with '%' is not allowed")
        if isinstance(node.op, ast.Mult):
            _static(node)
    elif isinstance(node, ast.UnaryOp) and type(node.op) not in _UNARY:
        raise ConditionError(f"operator {_SYMBOLS.get(type(node.op), '?')!r} is not allowed")
    elif isinstance(node, ast.Dict) and None in node.keys:
        raise ConditionError("dict unpacking '**' is not allowed")
    elif not isinstance(node, _PLAIN + _DISPLAYS):
        name = _NAMES.get(type(node), type(node).__name__)
        raise ConditionError(f"{name} is not allowed")
    for child in ast.iter_child_nodes(node):
        if not isinstance(
            child, (ast.expr_context, ast.boolop, ast.cmpop, ast.operator, ast.unaryop)
        ):
            _check(child)


def _static(node: ast.AST) -> tuple[str, int] | None:
    """What is known before running: ``("int", value)`` or ``("seq", length)``.

    Raises when a product of literals is already too large, e.g. ``'a' * 10**9``.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ("seq", len(node.value))
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return ("int", int(node.value))
    if isinstance(node, (ast.List, ast.Tuple)):
        return ("seq", len(node.elts))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _static(node.operand)
        return ("int", -inner[1]) if inner and inner[0] == "int" else None
    if not isinstance(node, ast.BinOp) or not isinstance(node.op, (ast.Add, ast.Mult)):
        return None
    left, right = _static(node.left), _static(node.right)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Add):
        return (left[0], left[1] + right[1]) if left[0] == right[0] else None
    if left[0] == right[0] == "int":
        if abs(left[1] * right[1]) > MAX_CONST_PRODUCT:
            raise ConditionError(f"product of literals exceeds {MAX_CONST_PRODUCT}")
        return ("int", left[1] * right[1])
    if left[0] == right[0]:
        return None
    length = left[1] * right[1] if left[1] > 0 and right[1] > 0 else 0
    if length > MAX_REPEAT:
        raise ConditionError(f"repetition of more than {MAX_REPEAT} elements is not allowed")
    return ("seq", length)


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
            raise ConditionError(_long_reverse(name))
        self.budget.charge(cost.call_cost(self.budget, receiver, name, args))
        if name == "replace" and len(args) > 1 and type(args[0]) is type(args[1]) is str:
            hits = receiver.count(args[0])  # checked before building the string
            if len(args) > 2 and type(args[2]) is int and args[2] >= 0:
                hits = min(hits, args[2])
            _sized(None, len(receiver) + hits * (len(args[1]) - len(args[0])))
        return _value(_sized(getattr(receiver, name)(*args)), f"{name}()")


def _long_reverse(name: str) -> str:
    return f"argument of {name}() longer than {MAX_REVERSE_ARGUMENT} characters"


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
