"""Registry of the resource and data source types the embedded engine can manage.

Exactly the types the VPC stack uses (ec2.py, routes.py, iam_logs.py); anything else fails before
the first API call, naming the type (use `--engine terraform` for stacks beyond this set). Each
handler carries the classification of every argument of its type (see arguments/).
"""

from __future__ import annotations

from matrix.engines.embedded.resources import ec2, iam_logs, routes
from matrix.engines.embedded.resources.base import DataSource, Handler

HANDLERS: dict[str, Handler] = {cls.type: cls() for cls in [*ec2.HANDLERS, *routes.HANDLERS, *iam_logs.HANDLERS]}
DATA_SOURCES: dict[str, DataSource] = {cls.type: cls() for cls in [*ec2.DATA_SOURCES, *iam_logs.DATA_SOURCES]}
