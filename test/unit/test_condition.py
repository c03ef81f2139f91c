"""Tests of glancesync.config.condition: the safe ``metadata_condition`` language."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancesync.config.budget import STEP_BUDGET, Budget
from glancesync.config.condition import Condition, ConditionError, compile_condition
from glancesync.config.grammar import IMAGE_ATTRIBUTES, MAX_SOURCE
from glancesync.config.settings import Credentials, TargetSettings
from glancesync.engine.selection import is_selected
from glancesync.model.image import Image


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
        budget = Budget()
        try:
            result = condition.evaluate(image, NID, budget)
        except ConditionError as error:
            assert "\n" not in str(error)
        else:
            assert isinstance(result, bool)
            assert 0 < budget.used <= STEP_BUDGET


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_any_text(text: str) -> None:
    _check_total(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.sampled_from([" ", ""]))
def test_fuzz_python_tokens(tokens: list[str], separator: str) -> None:
    _check_total(separator.join(tokens))


# -- the step budget -----------------------------------------------------------

#: About 100,000 characters built from a short text (ten repetitions).
HAYSTACK = "(" + "+".join(["'a'*10000"] * 10) + ")"


def _quadratic(needle: str) -> str:
    """The issue's attack: reverse searches of a long haystack, up to 4,000
    characters of them; in CPython each costs ``len(haystack) * len(needle)``."""
    term = f"{HAYSTACK}.rfind({needle}) > 0"
    return " or ".join([term] * (MAX_SOURCE // (len(term) + 4)))


def test_quadratic_condition_of_the_issue_is_rejected_at_load() -> None:
    text = _quadratic("'ab' + 'a' * 9998")
    assert 3_500 < len(text) <= MAX_SOURCE
    with pytest.raises(ConditionError, match=r"^argument of rfind\(\) longer than 100 characters$"):
        compile_condition(text)


@pytest.mark.parametrize(
    "text",
    [
        "'x' + image.name.rsplit('" + "_" * 101 + "')[0]",
        "image.name.rfind('a' * 60 + 'b' * 41) > 0",
    ],
)
def test_long_reverse_search_arguments_are_rejected_at_load(text: str) -> None:
    with pytest.raises(ConditionError, match="longer than 100 characters"):
        compile_condition(text)


def test_long_reverse_search_argument_known_only_at_run_time() -> None:
    condition = compile_condition("image.name.rfind(image.name * 10) > 0")
    with pytest.raises(ConditionError, match=r"^argument of rfind\(\) longer than 100"):
        condition.evaluate(PUBLIC_BARE, NONE)


@pytest.mark.parametrize(
    "needle", ["image.user_properties['needle']", "image.name[:1] * 99", "image.region[:2]"]
)
def test_quadratic_condition_is_stopped_by_the_budget(needle: str) -> None:
    """A needle the loader cannot see is charged before the search runs."""
    image = FakeImage(user_properties=_props(needle="ab" + "a" * 98))
    condition = compile_condition(_quadratic(needle))
    budget = Budget()
    with pytest.raises(ConditionError, match=r"^condition needs more than 1000000 steps"):
        condition.evaluate(image, NONE, budget)
    # Stopped at the first search, before its work: the charge is its worst case.
    assert budget.used > STEP_BUDGET
    assert budget.used < STEP_BUDGET + 100_000 * 101 + 10_000


def test_budget_overrun_is_logged_with_target_and_key(caplog: pytest.LogCaptureFixture) -> None:
    """The overrun takes the path of every condition error: not selected, one line."""
    condition = compile_condition(_quadratic("image.region[:2]"))
    target = TargetSettings("edge", Credentials(), metadata_condition=condition)
    image = Image(id="id-1", name="img\x1b[31m", size=1, region="Spain", visibility="public")
    with caplog.at_level(logging.WARNING):
        assert not is_selected(image, target)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("[edge] metadata_condition failed for image ")
    assert line.endswith("condition needs more than 1000000 steps for one image")
    assert "\x1b" not in line


def test_manual_conditions_use_a_small_part_of_the_budget() -> None:
    """The budget never gets in the way of real conditions, even on an image
    with Glance's most properties (128) of the longest values (255)."""
    full = _props(nid="123", **{f"p{i:03}": "v" * 255 for i in range(127)})
    image = FakeImage(name="n" * 255, user_properties=full)
    for text in [*MANUAL, "'v' * 255 in image.user_properties.values()"]:
        budget = Budget()
        compile_condition(text).evaluate(image, NID, budget)
        assert 0 < budget.used < STEP_BUDGET // 10


@pytest.mark.parametrize(
    ("text", "least"),
    [
        # Worst cases the meter must charge at least (characters compared).
        ("image.user_properties['big'].rfind('ab' * 50) > 0", 60_000 * 100),
        ("image.user_properties['big'].rstrip('yz' * 20) == ''", 60_000 * 40),
        (
            "[image.user_properties['big']] * 20 == [image.user_properties['big'] + ''] * 20",
            20 * 60_000,
        ),
        (
            "(image.user_properties['big'] + 'b') in [image.user_properties['big'] + 'a'] * 20",
            20 * 60_000,
        ),
    ],
)
def test_expensive_work_is_charged(text: str, least: int) -> None:
    budget = Budget(steps=10**12)
    compile_condition(text).evaluate(RICH, NONE, budget)
    assert budget.used >= least


#: How a generated term reads, and the characters its operation may compare
#: in CPython for a haystack of ``n`` and a needle of ``m`` characters.
OPERATIONS: dict[str, tuple[str, Callable[[int, int], int]]] = {
    "rfind": ("{h}.rfind({n})", lambda n, m: n * m),
    "rsplit": ("len({h}.rsplit({n}))", lambda n, m: n * m),
    "rstrip": ("len({h}.rstrip({n}))", lambda n, m: n * m),
    "strip": ("len({h}.strip({n}))", lambda n, m: n * m),
    "find": ("{h}.find({n})", lambda n, m: n),
    "count": ("{h}.count({n})", lambda n, m: n),
    "split": ("len({h}.split({n}))", lambda n, m: n),
    "replace": ("len({h}.replace({n}, 'x'))", lambda n, m: n),
    "in": ("({n} in {h})", lambda n, m: n),
    "equal": ("({n} == {h})", lambda n, m: min(n, m)),
    "startswith": ("{h}.startswith({n})", lambda n, m: m),
}
_PIECE = st.tuples(st.sampled_from("ab_"), st.integers(0, 10_000))
#: A needle the loader cannot measure: image.name is 'base_ubuntu'.
_DYNAMIC = {"image.name": 11, "image.name[:1] * 50": 50, "image.name[4:] * 9": 63}


def _text(pieces: list[tuple[str, int]]) -> str:
    return "(" + ("+".join(f"'{c}' * {k}" for c, k in pieces) or "''") + ")"


@FUZZ
@given(
    st.lists(_PIECE, min_size=1, max_size=10),
    st.one_of(st.lists(_PIECE, max_size=3), st.sampled_from(sorted(_DYNAMIC))),
    st.sampled_from(sorted(OPERATIONS)),
    st.integers(1, 5),
)
def test_fuzz_work_stays_under_the_budget(
    haystack: list[tuple[str, int]], needle: list[tuple[str, int]] | str, name: str, times: int
) -> None:
    """Each generated expression is refused, stopped, or finished having been
    charged at least the worst case of its searches: so a finished evaluation
    did at most :data:`STEP_BUDGET` steps of work."""
    shape, worst = OPERATIONS[name]
    if isinstance(needle, str):
        source, m = needle, _DYNAMIC[needle]
    else:
        source, m = _text(needle), sum(k for _, k in needle)
    term = shape.format(h=_text(haystack), n=source)
    text = " + ".join([term] * times)
    try:
        condition = compile_condition(text)
    except ConditionError as error:
        assert "\n" not in str(error)
        return
    budget = Budget()
    try:
        condition.evaluate(PUBLIC_BARE, NONE, budget)
    except ConditionError as error:
        assert "\n" not in str(error)
        return
    n = sum(k for _, k in haystack)
    assert budget.used >= times * worst(n, m)
    assert budget.used <= STEP_BUDGET
