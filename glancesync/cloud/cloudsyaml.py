"""clouds.yaml entries, read with openstacksdk's own loader.

The configuration names a cloud (``cloud = NAME``); whether clouds.yaml has
it, and which region it defaults to, only openstacksdk can say, and only
this room may import it (``test/unit/test_boundaries.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Mapping

from glancesync.config.ini import Entry, fail, quote


def cloud_region(entry: Entry, env: Mapping[str, str]) -> str | None:
    """Check that clouds.yaml defines the cloud *entry* names; return its region.

    openstacksdk is imported only now (it is slow), and its logging, warnings
    and output are silenced: a configuration error must stay one line.
    ``OS_CLIENT_CONFIG_FILE`` and ``OS_CLIENT_SECURE_FILE`` are read from *env*.
    """
    cloud = entry.value
    previous = logging.root.manager.disable
    sink = io.StringIO()
    logging.disable(logging.CRITICAL)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            from openstack.config import loader

            files, secure = list(loader.CONFIG_FILES), list(loader.SECURE_FILES)
            if env.get("OS_CLIENT_CONFIG_FILE"):
                files.insert(0, env["OS_CLIENT_CONFIG_FILE"])
            if env.get("OS_CLIENT_SECURE_FILE"):
                secure.insert(0, env["OS_CLIENT_SECURE_FILE"])
            config = loader.OpenStackConfig(
                config_files=files, secure_files=secure, load_envvars=False
            )
            names = list(config.get_cloud_names())
            region = None
            if cloud in names:
                region = config.get_one(cloud=cloud, validate=False).region_name
    except Exception as err:  # any failure of the loader is a config error
        message = f"cannot read clouds.yaml for cloud {quote(cloud)}: {type(err).__name__}"
        raise fail(entry, message) from None
    finally:
        logging.disable(previous)
    if cloud not in names:
        known = ", ".join(names) if names else "none; is OS_CLIENT_CONFIG_FILE right?"
        raise fail(entry, f"unknown cloud {quote(cloud)} (clouds.yaml has: {known})")
    return str(region) if region else None
