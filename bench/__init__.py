"""glancesync benchmark against the local cloud (``tools/devcloud``).

Run from the repository root with the project's virtualenv and the cloud up
(the cloud is ``$DEVCLOUD_STATE`` or ``.devcloud``; its ports are read from there)::

    make bench                                     # the quick run below
    .venv/bin/python -m bench                      # full run, 10-20 minutes
    .venv/bin/python -m bench --quick              # smoke run, a few minutes
    .venv/bin/python -m bench --parts a,d --sizes 64MiB --json /tmp/b.json

Parts (see doc/performance.rst for the method and the figures), one module each:

a  throughput of ``./sync.py`` against two scripted baselines, and the bytes
   each method reads from the master (throughput.py);
b  peak RSS of ``./sync.py`` against image size (measured during part a,
   plus the ``--rss-sizes`` points);
c  a no-op rerun over many small images: wall time and HTTP requests, against
   a bare paginated listing of the same regions (noop.py);
d  plan time for many images x many regions, in memory, no servers (planning.py);
e  several uploads at once into one region through the facade (concurrency.py);
w  far regions (not in the default parts: about 10 minutes at 512 MiB;
   ``--parts w --wan-size 512MiB``): three regions behind 100 Mbit/s link
   proxies (link.py), one after another, ``--parallel`` and ``fan_out``,
   against glanceclient through the same links; resumed against restarted
   cut downloads; ``bwlimit`` accuracy; glance-download bytes through the
   host (wan.py). The figures are in the JSON (``--json``).

measure.py holds the shared measurement helpers, arrange.py seeds, checks and
deletes images through glancesync's own facade, report.py prints the tables.
Every image the benchmark creates carries a per-run name prefix and is
deleted at the end, whatever happens. Servers are never stopped.
"""
