"""Tests of glancesync.config.condition: the safe ``metadata_condition`` language."""

from __future__ import annotations

import dataclasses
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancesync.config.condition import (
    IMAGE_ATTRIBUTES,
    Condition,
    ConditionError,
    compile_condition,
)


def _props(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class FakeImage:
    """Just the attributes a condition may read."""

    id: str = "id-1"
    name: str = "base_ubuntu"
    owner: str | None = "tenant-1"
    size: int = 1_000
    region: str = "Spain"
    is_public: bool = True
    visibility: str = "public"
    checksum: str | None = "abc123"
    status: str = "active"
    user_properties: Mapping[str, Any] = field(default_factory=_props)


PUBLIC_NID = FakeImage(user_properties=_props(nid="123", type="baseimage"))
PUBLIC_TYPE = FakeImage(user_properties=_props(type="other"))
PUBLIC_BARE = FakeImage()
PRIVATE_NID = FakeImage(is_public=False, visibility="private", user_properties=_props(nid="125"))
BIG = FakeImage(name="base_big", size=20_000_000_000)
OTHER_NID = FakeImage(name="centos", user_properties=_props(nid="99", type="baseimage"))

NONE: frozenset[str] = frozenset()
NID = frozenset({"nid"})
SPEED = frozenset({"speed"})

#: The conditions of the old tool's manual, which must keep working unchanged.
MANUAL = (
    ("image.is_public and ('nid' in image.user_properties or 'type' in image.user_properties)"),
    ("image.is_public and (not metadata_set or metadata_set.intersection(image.user_properties))"),
    "image.user_properties.get('type') == 'baseimage' and image.is_public",
    "'nid' in image.user_properties and image.user_properties['nid'].startswith('12')",
    "image.name.startswith('base_') and image.size < 10000000000",
)


@pytest.mark.parametrize(
    ("text", "image", "metadata_set", "expected"),
    [
        (MANUAL[0], PUBLIC_NID, NONE, True),
        (MANUAL[0], PUBLIC_TYPE, NONE, True),
        (MANUAL[0], PUBLIC_BARE, NONE, False),
        (MANUAL[0], PRIVATE_NID, NONE, False),
        (MANUAL[1], PUBLIC_BARE, NONE, True),
        (MANUAL[1], PUBLIC_NID, NID, True),
        (MANUAL[1], PUBLIC_NID, SPEED, False),
        (MANUAL[1], PRIVATE_NID, NONE, False),
        (MANUAL[2], PUBLIC_NID, NONE, True),
        (MANUAL[2], PUBLIC_TYPE, NONE, False),
        (MANUAL[2], PUBLIC_BARE, NONE, False),
        (MANUAL[3], PUBLIC_NID, NONE, True),
        (MANUAL[3], PRIVATE_NID, NONE, True),
        (MANUAL[3], OTHER_NID, NONE, False),
        (MANUAL[3], PUBLIC_BARE, NONE, False),
        (MANUAL[4], PUBLIC_BARE, NONE, True),
        (MANUAL[4], BIG, NONE, False),
        (MANUAL[4], OTHER_NID, NONE, False),
    ],
)
def test_manual_conditions(
    text: str, image: FakeImage, metadata_set: frozenset[str], expected: bool
) -> None:
    assert compile_condition(text).evaluate(image, metadata_set) is expected


@pytest.mark.parametrize(
    "text",
    [
        (
            "image.is_public and\\\n ('nid' in image.user_properties"
            " or 'type' in image.user_properties)"
        ),
        (
            "image.is_public and \\\r\n  ('nid' in image.user_properties or\r\n"
            "   'type' in image.user_properties)"
        ),
        (
            "\n    image.is_public and\n    ('nid' in image.user_properties or\n"
            "     'type' in image.user_properties)\n"
        ),
        (
            "\timage.is_public and ('nid' in image.user_properties\t\n"
            " or 'type' in image.user_properties)"
        ),
    ],
)
def test_multi_line_form(text: str) -> None:
    condition = compile_condition(text)
    assert condition.source == text
    assert condition.evaluate(PUBLIC_NID, NONE) is True
    assert condition.evaluate(PUBLIC_BARE, NONE) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image.name[::-1] == 'utnubu_esab'", True),
        ("image.name[:4] in ('base', 'core')", True),
        ("len(image.name) == 11 and len(image.user_properties) == 0", True),
        ("image.size // 3 % 7 == 4 and image.size / 4 == 250.0", True),
        ("-image.size < 0 < image.size <= 1000", True),
        ("1 < image.size < 10", False),
        ("image.owner is not None and image.checksum is not None", True),
        ("'yes' if image.status == 'active' else ''", True),
        ("image.visibility.upper().lower().strip() == 'public'", True),
        ("image.name.split('_') == ['base', 'ubuntu']", True),
        ("image.name.replace('_', '-').count('-') == 1", True),
        ("image.region.find('ai') == 2 and image.region.isalpha()", True),
        ("{'a': 1, 'b': 2}['b'] + [1, 2, 3].index(3) == 4", True),
        ("{1, 2}.issubset({1, 2, 3}) and (1, 1).count(1) == 2", True),
        ("metadata_set.union({'x'}) == {'nid', 'x'}", True),
        ("'sorted' not in 'abc' and len(image.user_properties.items()) == 0", True),
        ("'nid' in image.user_properties.keys()", False),
        ("image.user_properties.get('nid', 'none') == 'none'", True),
        ("'a' * 10000 != image.name", True),
        ("not (image.is_public or image.id)", False),
        ("image.id and image.size", True),
        ("'\\d' + 'x' == '\\\\dx'", True),
    ],
)
def test_language(text: str, expected: bool) -> None:
    assert compile_condition(text).evaluate(PUBLIC_BARE, NID) is expected


#: Expressions that must never run: each is refused when loaded.
HOSTILE = [
    "().__class__.__bases__[0].__subclasses__()",
    "().__class__",
    "image.__class__",
    "image.__dict__",
    "image.user_properties.__class__",
    "image.user_properties.get.__self__",
    "metadata_set.__class__.__init__",
    "__import__('os').system('touch MARK')",
    "__builtins__",
    "_",
    "eval('1')",
    "exec('x')",
    "open('MARK', 'w')",
    "getattr(image, 'id')",
    "type(image)",
    "vars(image)",
    "globals()",
    "len",
    "len(1, 2)",
    "lambda: 1",
    "(lambda: 1)()",
    "[x for x in 'a']",
    "{x for x in 'a'}",
    "{x: 1 for x in 'a'}",
    "any(x for x in 'a')",
    "'{0.__class__}'.format(image)",
    "image.name.format(image)",
    "'a'.format_map({})",
    "'%s' % image.name",
    "'%(a)s' % {'a': 1}",
    "9**9**9",
    "2 ** 3",
    "'a'*10**9",
    "[0]*10**8",
    "10**10*10**10",
    "'a' * 1000000000",
    "1000000000 * [0]",
    "('ab' * 100) * 100",
    "1000000 * 1000000 * 10",
    "-1000000 * 10000000",
    "(" * 200 + "1" + ")" * 200,
    "[" * 60 + "]" * 60,
    "-" * 60 + "1",
    "not " * 60 + "True",
    "image.name == '" + "a" * 5000 + "'",
    "(x:=1)",
    "f'{image}'",
    "f'{1}'",
    "import os",
    "x = 1",
    "1; 2",
    "",
    "   \n  ",
    "1\x00",
    "image.name.__len__()",
    "image.region.encode().decode()",
    "''.join(['a'])",
    "'a'.__add__('b')",
    "image.properties",
    "image.raw",
    "image.get('x')",
    "image.name()",
    "image",
    "image == image",
    "image.name.startswith",
    "image.name.split(sep='_')",
    "image.name.startswith(*'a')",
    "*image.name,",
    "{**image.user_properties}",
    "b'abc'",
    "1j",
    "...",
    "~1",
    "1 << 1000000",
    "1 | 2",
    "1 @ 2",
    "(yield)",
    "os.system('id')",
    "image.name if True else os",
    "image.name.",
    "\\",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_rejected_at_compile(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConditionError) as caught:
        compile_condition(text)
    assert "\n" not in str(caught.value)
    assert str(caught.value)
    assert not (tmp_path / "MARK").exists()


def test_hostile_corpus_is_large() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a'.format(1)", "call of 'format' is not allowed"),
        ("os.name", "attribute 'name' is not allowed"),
        ("os", "name 'os' is not defined"),
        ("image.name ==", "syntax error at column"),
        ("image.__class__", "attribute '__class__' is not allowed"),
        ("image.properties", "image attribute 'properties' is not allowed"),
        ("2 ** 3", "operator '**' is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("[x for x in 'a']", "comprehension is not allowed"),
        ("f'{image}'", "f-string is not allowed"),
        ("(x:=1)", "assignment expression"),
        ("'a' * 20000", "repetition of more than 10000 elements"),
        ("x" * 4001, "longer than 4000 characters"),
    ],
)
def test_messages_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        compile_condition(text)


def test_syntax_error_names_the_column() -> None:
    with pytest.raises(ConditionError, match=r"^syntax error at column \d+$"):
        compile_condition("image.id == == 1")


def test_not_a_string() -> None:
    with pytest.raises(ConditionError):
        compile_condition(None)  # type: ignore[arg-type]


class Opaque:
    """A value of a type the interpreter must refuse to touch."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("code of an unknown type was run")

    __hash__ = object.__hash__


RICH = FakeImage(
    owner=None,
    size=1_000_000,
    user_properties=_props(big="x" * 60_000, obj=Opaque(), nid="123"),
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image.name * image.size", "repetition"),
        ("image.size * [0] == []", "repetition"),
        ("[[0] * 1000] * 1000 == [[0] * 1000] * 1000", "sequence of containers"),
        ("[[[0] * image.size]] * 2 == 1", "repetition"),
        ("(image.name * 100).replace('', image.name * 100)", "longer than"),
        ("image.user_properties['big'] + image.user_properties['big']", "longer"),
        ("image.user_properties['missing'] == 1", "key 'missing' not found"),
        ("image.owner < 3", "TypeError"),
        ("image.size / 0", "ZeroDivisionError"),
        ("image.name % 1", "string formatting"),
        ("image.user_properties['obj'] == 1", "unsupported type 'Opaque'"),
        ("image.user_properties.get('obj') == 1", "unsupported type 'Opaque'"),
        ("image.user_properties.get('x').startswith('a')", "of NoneType"),
        ("image.size.count(1)", "method 'count' of int is not allowed"),
        ("image.name.get('x')", "method 'get' of str is not allowed"),
        ("metadata_set.intersection(image.size)", "TypeError"),
        ("image.user_properties['nid'][10]", "IndexError"),
        ("image.size[0]", "int cannot be subscripted"),
        ("{[]: 1}", "TypeError"),
        ("len(image.size)", "TypeError"),
        ("image.name.index('zz')", "ValueError"),
    ],
)
def test_runtime_errors_are_condition_errors(text: str, message: str) -> None:
    condition = compile_condition(text)
    with pytest.raises(ConditionError, match=re.escape(message)) as caught:
        condition.evaluate(RICH, NONE)
    assert "\n" not in str(caught.value)


def test_missing_attribute_of_image() -> None:
    @dataclass
    class Partial:
        name: str = "x"

    with pytest.raises(ConditionError, match="image has no attribute 'owner'"):
        compile_condition("image.owner is None").evaluate(Partial(), NONE)


def test_reads_only_listed_attributes() -> None:
    seen: list[str] = []

    class Spy(FakeImage):
        def __getattribute__(self, name: str) -> Any:
            seen.append(name)
            return super().__getattribute__(name)

    spy = Spy(user_properties=_props(nid="123", type="baseimage"))
    for text in MANUAL:
        compile_condition(text).evaluate(spy, NID)
    assert seen
    assert set(seen) <= IMAGE_ATTRIBUTES


def test_result_is_bool() -> None:
    assert compile_condition("image.name").evaluate(PUBLIC_BARE, NONE) is True
    assert compile_condition("image.user_properties").evaluate(PUBLIC_BARE, NONE) is False


@pytest.mark.parametrize("text", [*MANUAL, "image.size > 10 and 'x' in metadata_set"])
def test_pickle_round_trip(text: str) -> None:
    condition = compile_condition(text)
    copy = pickle.loads(pickle.dumps(condition))
    assert isinstance(copy, Condition)
    assert copy == condition
    assert hash(copy) == hash(condition)
    assert copy.source == text
    for image in (PUBLIC_NID, PUBLIC_TYPE, PUBLIC_BARE, PRIVATE_NID, BIG, OTHER_NID):
        for metadata_set in (NONE, NID, SPEED):
            assert copy.evaluate(image, metadata_set) == condition.evaluate(image, metadata_set)


def test_condition_is_frozen() -> None:
    condition = compile_condition("image.is_public")
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.source = "True"  # type: ignore[misc]
    assert "image.is_public" in repr(condition)


def test_condition_error_is_value_error() -> None:
    assert issubclass(ConditionError, ValueError)
    assert str(ConditionError("a\nb\n c")) == "a b c"


TOKENS = [
    "image", ".", "name", "size", "user_properties", "is_public", "owner",
    "metadata_set", "(", ")", "[", "]", "{", "}", ",", ":", "'a'", "'nid'", "''",
    "0", "1", "-1", "10000", "1e308", "+", "-", "*", "/", "//", "%", "**", "==",
    "!=", "<", ">=", "in", "not", "and", "or", "is", "if", "else", "None", "True",
    "len", "startswith", "get", "keys", "intersection", "replace", "split",
    "count", "index", "__class__", "format", "lambda", "x", "for", "\\\n", "\n",
]  # fmt: skip


def _check_total(text: str) -> None:
    """Compiling and evaluating either works or raises ConditionError."""
    try:
        condition = compile_condition(text)
    except ConditionError as error:
        assert "\n" not in str(error)
        return
    for image in (PUBLIC_NID, RICH):
        try:
            result = condition.evaluate(image, NID)
        except ConditionError as error:
            assert "\n" not in str(error)
        else:
            assert isinstance(result, bool)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_any_text(text: str) -> None:
    _check_total(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.sampled_from([" ", ""]))
def test_fuzz_python_tokens(tokens: list[str], separator: str) -> None:
    _check_total(separator.join(tokens))
