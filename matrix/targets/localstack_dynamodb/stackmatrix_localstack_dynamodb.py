"""LocalStack provider `dynamodb:moto`: every DynamoDB operation is handed to the moto library.

LocalStack's stock DynamoDB provider runs DynamoDB Local, which it downloads (with a JDK) on first
use; with no network but the package registries that fails. LocalStack already serves EC2, IAM and
STS through moto where its own providers stop (`MotoFallbackDispatcher`); this provider implements
no operation itself, so the fallback dispatcher sends every one of them to moto's DynamoDB backend,
in the account and region LocalStack resolved for the request (it sets `x-moto-account-id`).

Registered under the plux namespace `localstack.aws.provider` as `dynamodb:moto` (see pyproject.toml
beside this file) and selected with `PROVIDER_OVERRIDE_DYNAMODB=moto`. This module runs only inside
LocalStack's own venv, never in the project's.
"""

from __future__ import annotations

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """No operation of its own: each raises NotImplementedError, so the dispatcher falls back to moto."""

    service = "dynamodb"


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
