"""Part w: far regions. Each target region's Glance behind a bench/link.py proxy
(``--wan-mbit`` per region, ``--wan-latency``), the master behind an unthrottled one
that counts what is read from it; then one image to three regions one after
another, with ``--parallel`` and with ``[main] fan_out``, against one region alone.
Also a download cut at 50 % and 90 %, resumed, against the bytes a restart
re-reads; and ``bwlimit`` at 20 and 50 MB/s. glancesync runs in this process
(``glancesync.cli.main`` with :class:`bench.link.ProxiedFacade`), so the product's
own code is measured; ``--parallel`` children inherit the facade.
"""

from __future__ import annotations

import contextlib
import resource
import time
from typing import Any

from bench.arrange import MASTER, Bench, write_config
from bench.link import LinkProxy, ProxiedFacade
from bench.measure import say
from bench.throughput import ChunkReader
from glancesync import cli
from glancesync.config.loader import load_settings
from glancesync.config.settings import Settings
from glancesync.model.image import Image
from glancesync.transfer.ratelimit import limiter
from glancesync.transfer.resume import resumable
from glancesync.transfer.source import MasterSource
from tools.cloudclients import session_for
from tools.devcloud import topology

FAR = ["RegionTwo", "RegionThree", "other:OtherOne"]


def _upstream(region: str) -> tuple[str, int]:
    layout = topology.load()
    return layout.host, layout.region_port(region.split(":")[-1])


def _cap_accuracy(facade: ProxiedFacade, image: Image, cap: float) -> dict[str, float]:
    """Read the master under ``bwlimit = cap`` for at least 20 s; the rate achieved.

    Each download is timed from its first byte to its last: the cap paces
    transfers, and the wait for a new download's first byte is no transfer.
    """
    source = MasterSource(facade, MASTER, limiter=limiter(cap))
    got, moving, started = 0, 0.0, time.perf_counter()
    while moving < 20:
        first = None
        for chunk in source.from_master(image):
            first = first or time.perf_counter()
            got += len(chunk)
        moving += time.perf_counter() - (first or time.perf_counter())
    wall = time.perf_counter() - started
    rate = got / moving / 1e6
    say(f"(w) bwlimit {cap:g}: {rate:.2f} MB/s over {moving:.1f} s of transfer ({wall:.1f} s)")
    return {
        "mb_s": rate,
        "seconds": moving,
        "wall_mb_s": got / wall / 1e6,
        "error_pct": 100 * (rate - cap) / cap,
    }


def _glanceclient_copy(image: Image, region: str, endpoints: dict[str, str]) -> None:
    """The scripted baseline: glanceclient's download and upload, through the same links."""
    from glanceclient import Client

    target = region.split(":")[0] if ":" in region else "master"
    name = region.split(":")[-1]
    sessions = {cloud: session_for(cloud, topology.load()) for cloud in {"master", target}}
    source = Client("2", session=sessions["master"], endpoint_override=endpoints[MASTER.full])
    sink = Client(
        "2", session=sessions[target], region_name=name, endpoint_override=endpoints[region]
    )
    new = sink.images.create(
        name=image.name, disk_format="raw", container_format="bare", visibility="private"
    )
    sink.images.upload(new["id"], ChunkReader(source.images.data(image.id)), image_size=image.size)


def run(bench: Bench, size: int, mbit: float, latency: float) -> dict[str, Any]:
    rate = mbit * 1e6 / 8
    master_image = bench.make_master(f"{bench.prefix}wan", size)
    out: dict[str, Any] = {"size": size, "link_mbit": mbit, "latency_s": latency}
    with contextlib.ExitStack() as stack:
        master = stack.enter_context(LinkProxy(_upstream(MASTER.name)))
        links = {r: stack.enter_context(LinkProxy(_upstream(r), rate, latency)) for r in FAR}
        endpoints = {MASTER.full: master.url} | {r: link.url for r, link in links.items()}

        def factory(settings: Settings) -> ProxiedFacade:
            return ProxiedFacade(settings, endpoints)

        def sync(name: str, regions: list[str], extra: dict[str, str], *flags: str) -> None:
            config = write_config(bench.tmp / f"{name}.conf", bench.prefix, {"main": extra})
            master.received = 0
            started = time.perf_counter()
            code = cli.main(["-q", "--config-file", str(config), *flags, *regions], factory)
            seconds = time.perf_counter() - started
            out[name] = {"seconds": seconds, "exit": code, "master_bytes": master.received}
            say(f"(w) {name}: {seconds:.1f} s, master read {master.received / 1e6:.1f} MB")
            bench.cloud.delete_copies(master_image.name)

        sync("one region", FAR[:1], {})
        sync("sequential", FAR, {})
        sync("parallel", FAR, {"max_children": "3"}, "--parallel")
        sync("fan-out", FAR, {"fan_out": "3"})
        one = out["one region"]["seconds"]
        for name in ("sequential", "parallel", "fan-out"):
            out[name]["ratio"] = out[name]["seconds"] / one

        settings = load_settings(write_config(bench.tmp / "r.conf", bench.prefix))
        facade = ProxiedFacade(settings, endpoints)
        for at in (0.5, 0.9):
            master.received = 0
            master.cut_after(int(size * at))
            for _ in resumable(facade, MASTER, master_image):
                pass
            extra = master.received - size
            out[f"resume at {at:.0%}"] = {
                "reread_bytes": extra,
                "reread_pct": 100 * extra / size,
                "restart_reread_pct": 100 * at,
            }
            say(f"(w) cut at {at:.0%}: resumed re-read {extra / 1e6:.2f} MB")

        for cap in (20.0, 50.0):
            out[f"bwlimit {cap:g}"] = _cap_accuracy(facade, master_image, cap)
        facade.close()

        for name, regions in (("glanceclient, one region", FAR[:1]), ("glanceclient, 3", FAR)):
            master.received = 0
            started = time.perf_counter()
            for region in regions:
                _glanceclient_copy(master_image, region, endpoints)
            seconds = time.perf_counter() - started
            out[name] = {"seconds": seconds, "master_bytes": master.received}
            say(f"(w) {name}: {seconds:.1f} s, master read {master.received / 1e6:.1f} MB")
            bench.cloud.delete_copies(master_image.name)

        # glance-download against streaming, links unthrottled: the region pulls
        # from the master's Glance itself, past the proxies.
        for link in links.values():
            link.set_rate(None)
        for name, transfer in (("streaming, no link cap", "stream"), ("glance-download", None)):
            mode = {"master": {"transfer": transfer or "glance-download"}}
            config = write_config(bench.tmp / f"{name}.conf", bench.prefix, mode)
            master.received = 0
            region_link = links[FAR[0]]
            region_link.sent = region_link.received = 0
            started = time.perf_counter()
            code = cli.main(["-q", "--config-file", str(config), FAR[0]], factory)
            seconds = time.perf_counter() - started
            through = master.received + region_link.sent + region_link.received
            out[name] = {"seconds": seconds, "exit": code, "host_bytes": through}
            say(f"(w) {name}: {seconds:.1f} s, {through / 1e6:.3f} MB through the host")
            bench.cloud.delete_copies(master_image.name)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out
