"""What a ``metadata_condition`` may say: the closed grammar, checked at load.

The text is parsed with :mod:`ast`; every node kind, name, attribute and
method is looked up in the tables below, and what can be known from the
text alone (sizes of constant repetitions, lengths of reverse-search
arguments, nesting) is bounded here, before any image is seen. The
interpreter that runs a checked tree is :mod:`glancesync.config.condition`.
"""

from __future__ import annotations

import ast
import io
import operator
import tokenize
import warnings
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from glancesync.config.budget import MAX_REVERSE_ARGUMENT, REVERSE_SEARCHES
from glancesync.model.text import one_line

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
        super().__init__(one_line(str(message)))


def long_reverse(name: str) -> str:
    """The error text for a reverse search with too long an argument."""
    return f"argument of {name}() longer than {MAX_REVERSE_ARGUMENT} characters"


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
                    raise ConditionError(long_reverse(func.attr))
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
