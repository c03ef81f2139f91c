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
from glancesync import cli
from glancesync.config.loader import load_settings
from glancesync.config.settings import Settings
from glancesync.transfer.resume import resumable
from tools.devcloud import topology

FAR = ["RegionTwo", "RegionThree", "other:OtherOne"]


def _upstream(region: str) -> tuple[str, int]:
    layout = topology.load()
    return layout.host, layout.region_port(region.split(":")[-1])


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
        facade.close()

        for cap in (20.0, 50.0):
            config = write_config(bench.tmp / f"bw{cap:g}.conf", bench.prefix, {"main": {}})
            links[FAR[0]].set_rate(None)
            master.received = 0
            started = time.perf_counter()
            cli.main(["-q", "--config-file", str(config), "--bwlimit", f"{cap:g}", FAR[0]], factory)
            seconds = time.perf_counter() - started
            got = master.received / seconds / 1e6
            out[f"bwlimit {cap:g}"] = {"mb_s": got, "error_pct": 100 * (got - cap) / cap}
            say(f"(w) bwlimit {cap:g}: {got:.2f} MB/s over {seconds:.1f} s")
            bench.cloud.delete_copies(master_image.name)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out
