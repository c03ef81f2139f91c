"""The plan is the only decider: a sync writes exactly the steps --dry-run listed.

Hypothesis builds many master and region states on the in-memory cloud and
many target settings. For each, the region pipeline is run without writing
(what --dry-run and --show-status print) and then with writing (a sync): the
sync must have planned the very same plan, and its writes must be exactly
what that plan's steps write, no more and no fewer.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancesync.api import GlanceSync
from glancesync.config.settings import ChecksumList, Credentials, Settings, TargetSettings
from glancesync.engine.steps import Action, RegionPlan
from glancesync.testing.memcloud import PROJECTS, MemoryCloud

#: The moment both runs of a test see.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
NAMES = ("a", "b", "c", "a_obsolete")

image_state = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "data": st.sampled_from([b"x", b"yy", b"zzz"]),
        "visibility": st.sampled_from(["public", "private"]),
        "protected": st.booleans(),
        "nid": st.sampled_from([None, "1", "2"]),
        "foreign": st.booleans(),
        "min_ram": st.sampled_from([0, 512]),
        "tags": st.sampled_from([(), ("x",)]),
        #: A copy made by glancesync from a master image that is gone.
        "stamped": st.booleans(),
    }
)
conflict_rule = st.sampled_from([ChecksumList(), ChecksumList(any=True)])
target_rules = st.fixed_dictionaries(
    {
        "rename": conflict_rule,
        "replace": conflict_rule,
        "dontupdate": conflict_rule,
        "replace_protected": st.booleans(),
        "metadata_set": st.sampled_from([frozenset(), frozenset({"nid"})]),
        "obsolete_syncprops": st.sampled_from([frozenset(), frozenset({"nid"})]),
        "retire": st.sampled_from(["keep", "hide", "deactivate", "delete"]),
        "max_retire": st.sampled_from([1, 5]),
        "retire_protected": st.booleans(),
    }
)


def _add(cloud: MemoryCloud, region: str, state: dict[str, Any], can_be_foreign: bool) -> None:
    props = {"nid": state["nid"]} if state["nid"] else {}
    if can_be_foreign and state["stamped"]:
        props.update(
            glancesync_source_id="id-of-a-gone-image",
            glancesync_source_region="RegionOne",
            glancesync_source_hash="md5:00",
        )
    owner = "p-someone-else" if can_be_foreign and state["foreign"] else PROJECTS["master"]
    cloud.add(
        region,
        state["name"],
        state["data"],
        owner=owner,
        visibility=state["visibility"],
        protected=state["protected"],
        min_ram=state["min_ram"],
        tags=list(state["tags"]),
        **props,
    )


def expected_writes(plan: RegionPlan) -> Counter[tuple[str, str]]:
    """What each planned step writes, as documented in doc/manual.rst."""
    writes: Counter[tuple[str, str]] = Counter()
    for entry in plan.metadata_steps():
        assert entry.region_image is not None
        writes["update", entry.change.name or entry.region_image.name] += 1
    for entry in plan.upload_steps():
        assert entry.new_image is not None
        old = entry.region_image
        writes["create", entry.new_image.name] += 1
        writes["upload", entry.new_image.name] += 1
        if entry.new_image.protected:
            writes["update", entry.new_image.name] += 1
        if entry.action is Action.RENAME_AND_UPLOAD:
            assert old is not None and entry.change.name is not None
            writes["update", entry.change.name] += 1
        if entry.action is Action.REPLACE:
            assert old is not None
            if not entry.change.is_empty():
                writes["update", old.name] += 1
            writes["delete", old.name] += 1
    for step in plan.retirements:
        if not step.change.is_empty():
            writes["update", step.image.name] += 1
        if step.deactivate:
            writes["deactivate", step.image.name] += 1
        if step.delete:
            writes["delete", step.image.name] += 1
    return writes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    master=st.lists(image_state, max_size=4),
    region=st.lists(image_state, max_size=4),
    rules=target_rules,
)
def test_sync_writes_exactly_what_dry_run_listed(
    master: list[dict[str, Any]], region: list[dict[str, Any]], rules: dict[str, Any]
) -> None:
    cloud = MemoryCloud()
    for state in master:
        _add(cloud, "RegionOne", state, can_be_foreign=False)
    for state in region:
        _add(cloud, "RegionTwo", state, can_be_foreign=True)
    target = TargetSettings("master", Credentials(), **rules)
    config = Settings(
        master_region="RegionOne",
        targets=MappingProxyType(
            {"master": target, "other": TargetSettings("other", Credentials())}
        ),
    )

    def sync() -> GlanceSync:
        # A plan depends on the moment (a retirement records it): one clock for both.
        return GlanceSync(config, facade=cloud, clock=lambda: NOW)

    dry = sync().run_region("RegionTwo", write=False)
    assert dry.plan is not None and dry.result is None and cloud.writes == []
    plan = dry.plan

    run = sync().run_region("RegionTwo")
    assert run.plan == plan and run.result is not None, "the sync planned something else"
    assert run.result.region_error is None
    assert all(outcome.ok for outcome in run.result.outcomes), run.result.outcomes
    made = Counter((kind, name) for where, kind, name in cloud.writes if where == "RegionTwo")
    assert made == expected_writes(plan)
    assert not any(where != "RegionTwo" for where, _, _ in cloud.writes)
    # What the sync did, a second plan no longer asks for.
    again = sync().plan_region("RegionTwo")
    assert all(e.action is Action.NONE for e in (*again.entries, *again.obsolete))
    assert again.retirements == ()
