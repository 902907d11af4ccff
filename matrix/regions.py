"""AWS regions as botocore knows them, and how many availability zones the stack may use in each.

Region names are checked against botocore's own endpoint data (no network call), so a typo fails
before anything runs and the message suggests the closest real region.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
DEFAULT_AZ_COUNT = 3


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in PARTITIONS:
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)


def botocore_version() -> str:
    import botocore

    return botocore.__version__


def region_problem(region: object) -> str | None:
    """None when `region` is a real AWS region, else why not and the nearest names."""
    if not isinstance(region, str) or not region:
        return f"region {region!r} is not a region name (e.g. us-east-1)"
    known = known_regions()
    if region in known:
        return None
    close = difflib.get_close_matches(region, sorted(known), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"region {region!r} is not an AWS region known to botocore {botocore_version()}{hint} "
        f"(known: {', '.join(sorted(r for r in known if not r.startswith(('cn-', 'us-gov-'))))})"
    )
