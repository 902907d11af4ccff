"""What AWS really answers: error codes per service, their HTTP status, their wording, and throttling.

Data only, no behaviour. `rules` validates rule files against it (an error code a service never
sends is a typo, not a scenario); `protocol` takes status and message from it when it writes an
error body; `fis` and `localstack_api` take the default throttle from it.

Where the codes come from:

* the service model botocore ships (`error_shapes`, with their `httpStatusCode`): `modeled_codes`;
* the AWS error-code pages for what the models do not declare: EC2 declares no error shape at all,
  so `EC2_CODES` holds the common client codes, the server codes and the codes of the calls a VPC
  stack makes; S3 and the query services declare only a few (`EXTRA_CODES`);
* botocore's retry checkers (`retries/standard.py`): `BOTOCORE_THROTTLE_CODES`, accepted for the
  services we hold no table for (for the six core services, only their own throttles are real).
"""

from __future__ import annotations

import functools

# The throttle each service really sends: (code, HTTP status, message as AWS words it).
DEFAULT_THROTTLE: dict[str, tuple[str, int, str]] = {
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "iam": ("Throttling", 400, "Rate exceeded"),
    "sts": ("Throttling", 400, "Rate exceeded"),
    "s3": ("SlowDown", 503, "Please reduce your request rate."),
    "dynamodb": ("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput."),
    "logs": ("ThrottlingException", 400, "Rate exceeded"),
}
# Services not listed above: by protocol family.
FALLBACK_THROTTLE = {
    "query": ("Throttling", 400, "Rate exceeded"),
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "json": ("ThrottlingException", 400, "Rate exceeded"),
    "rest-xml": ("SlowDown", 503, "Please reduce your request rate."),
    "rest-json": ("TooManyRequestsException", 429, "Too Many Requests"),
}

# botocore/retries/standard.py ThrottlingErrorDetector._THROTTLED_ERROR_CODES (1.44.8).
BOTOCORE_THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
})

# Server-side failures any service may answer.
GENERIC_SERVER_CODES: dict[str, int] = {
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}

# EC2 declares no error shapes. Error codes for the Amazon EC2 API (API reference, errors-overview).
EC2_CODES: dict[str, int] = {
    # common client errors
    **dict.fromkeys((
        "AuthFailure", "Blocked", "DryRunOperation", "IdempotentParameterMismatch", "IncompleteSignature",
        "InvalidAction", "InvalidCharacter", "InvalidClientTokenId", "InvalidPaginationToken",
        "InvalidParameter", "InvalidParameterCombination", "InvalidParameterValue", "InvalidQueryParameter",
        "MalformedQueryString", "MissingAction", "MissingAuthenticationToken", "MissingParameter",
        "OptInRequired", "PendingVerification", "RequestExpired", "UnauthorizedOperation", "UnknownParameter",
        "UnsupportedInstanceAttribute", "UnsupportedOperation", "UnsupportedProtocol", "ValidationError",
        # client errors of the calls a VPC stack makes
        "AddressLimitExceeded", "DependencyViolation", "FlowLogAlreadyExists", "FlowLogsLimitExceeded",
        "Gateway.NotAttached", "IncorrectState", "InternetGatewayLimitExceeded", "InvalidAllocationID.NotFound",
        "InvalidAssociationID.NotFound", "InvalidAvailabilityZone", "InvalidFlowLogId.NotFound",
        "InvalidGroup.Duplicate", "InvalidGroup.NotFound", "InvalidGroupId.Malformed", "InvalidID",
        "InvalidInstanceID.Malformed", "InvalidInstanceID.NotFound", "InvalidInternetGatewayID.NotFound",
        "InvalidNatGatewayID.NotFound", "InvalidNetworkAclID.NotFound", "InvalidPermission.Duplicate",
        "InvalidPermission.NotFound", "InvalidPrefixListId.NotFound", "InvalidRoute.NotFound",
        "InvalidRouteTableID.NotFound", "InvalidSubnet.Conflict", "InvalidSubnet.Range",
        "InvalidSubnetID.NotFound", "InvalidVpc.Range", "InvalidVpcEndpointId.NotFound",
        "InvalidVpcID.NotFound", "InvalidZone.NotFound", "NatGatewayLimitExceeded", "NatGatewayNotFound",
        "Resource.AlreadyAssociated", "ResourceLimitExceeded", "RouteAlreadyExists", "RouteTableLimitExceeded",
        "RulesPerSecurityGroupLimitExceeded", "SecurityGroupLimitExceeded", "SubnetLimitExceeded",
        "TagLimitExceeded", "VpcEndpointLimitExceeded", "VpcLimitExceeded",
    ), 400),
    "AuthFailure": 401, "UnauthorizedOperation": 403, "Blocked": 403,
    # server errors
    "InsufficientAddressCapacity": 500, "InsufficientCapacity": 500, "InsufficientHostCapacity": 500,
    "InsufficientInstanceCapacity": 500, "InsufficientReservedInstanceCapacity": 500,
    "InsufficientVolumeCapacity": 500, "InternalError": 500, "ServerInternal": 500,
    "RequestLimitExceeded": 503, "ServiceUnavailable": 503, "Unavailable": 503,
}

# Codes the services send that their models do not declare (common errors of the query/JSON APIs,
# the S3 error-code table).
_QUERY_COMMON = {
    "AccessDenied": 403, "IncompleteSignature": 400, "InternalFailure": 500, "InvalidAction": 400,
    "InvalidClientTokenId": 403, "InvalidParameterCombination": 400, "InvalidParameterValue": 400,
    "InvalidQueryParameter": 400, "MalformedQueryString": 404, "MissingAction": 400,
    "MissingAuthenticationToken": 403, "MissingParameter": 400, "OptInRequired": 403, "RequestExpired": 400,
    "ServiceUnavailable": 503, "SignatureDoesNotMatch": 403, "Throttling": 400, "ValidationError": 400,
}
_JSON_COMMON = {
    "AccessDeniedException": 400, "IncompleteSignatureException": 400, "InternalFailure": 500,
    "InternalServerError": 500, "InvalidSignatureException": 400, "MissingAuthenticationTokenException": 400,
    "ServiceUnavailable": 503, "ThrottlingException": 400, "UnrecognizedClientException": 400,
    "ValidationException": 400, "RequestExpired": 400,
}
EXTRA_CODES: dict[str, dict[str, int]] = {
    "iam": {**_QUERY_COMMON, "ServiceFailure": 500},
    "sts": {**_QUERY_COMMON, "ExpiredToken": 400, "RegionDisabledException": 403},
    "s3": {
        "AccessDenied": 403, "AuthorizationHeaderMalformed": 400, "BadDigest": 400, "BucketNotEmpty": 409,
        "ConditionalRequestConflict": 409, "EntityTooLarge": 400, "EntityTooSmall": 400, "ExpiredToken": 400,
        "IllegalLocationConstraintException": 400, "IncompleteBody": 400, "InternalError": 500,
        "InvalidAccessKeyId": 403, "InvalidArgument": 400, "InvalidBucketName": 400, "InvalidBucketState": 409,
        "InvalidDigest": 400, "InvalidRange": 416, "InvalidToken": 400, "KeyTooLongError": 400,
        "MalformedXML": 400, "MethodNotAllowed": 405, "MissingContentLength": 411,
        "NoSuchBucketPolicy": 404, "NoSuchLifecycleConfiguration": 404, "NoSuchTagSet": 404,
        "NoSuchPublicAccessBlockConfiguration": 404, "NotImplemented": 501, "OperationAborted": 409,
        "PreconditionFailed": 412, "RequestTimeout": 400, "RequestTimeTooSkewed": 403,
        "ServerSideEncryptionConfigurationNotFoundError": 404, "ServiceUnavailable": 503,
        "SignatureDoesNotMatch": 403, "SlowDown": 503, "TooManyBuckets": 400,
    },
    "dynamodb": {**_JSON_COMMON, "ServiceUnavailable": 503},
    "logs": {**_JSON_COMMON, "ServiceUnavailableException": 500},
}

# Wording for the codes a scenario injects most; anything else gets a neutral sentence.
MESSAGES: dict[str, str] = {
    "RequestLimitExceeded": "Request limit exceeded.",
    "Throttling": "Rate exceeded",
    "ThrottlingException": "Rate exceeded",
    "SlowDown": "Please reduce your request rate.",
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the "
    "table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    "InternalError": "An internal error has occurred.",
    "InternalFailure": "The request processing has failed because of an unknown error, exception or failure.",
    "InternalServerError": "Internal server error",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "ServiceUnavailableException": "The service cannot complete the request.",
    "Unavailable": "The server is overloaded and can't handle the request.",
    "ServiceFailure": "The request processing has failed because of an unknown error, exception or failure.",
}


def message_for(code: str) -> str:
    return MESSAGES.get(code, f"{code}")


def default_throttle(service: str, protocol: str | None = None) -> tuple[str, int, str]:
    """(code, status, message) of the throttle `service` sends."""
    if service in DEFAULT_THROTTLE:
        return DEFAULT_THROTTLE[service]
    return FALLBACK_THROTTLE.get(protocol or "json", FALLBACK_THROTTLE["json"])


@functools.cache
def modeled_codes(service: str) -> dict[str, int | None]:
    """Error codes the botocore service model declares for `service`, with their HTTP status if modeled."""
    from matrix.chaos.catalog import service_model  # lazy: botocore's service models load on first use

    model = service_model(service)
    out: dict[str, int | None] = {}
    for shape in model.error_shapes:
        err = shape.metadata.get("error", {})
        out[err.get("code", shape.name)] = err.get("httpStatusCode")
    return out


@functools.cache
def known_codes(service: str) -> dict[str, int]:
    """Every error code `service` may answer (with its usual HTTP status)."""
    codes: dict[str, int] = {}
    if service not in DEFAULT_THROTTLE:  # a service we hold no table for: any code SDKs treat as a throttle
        codes.update(dict.fromkeys(BOTOCORE_THROTTLE_CODES, 400))
    codes.update(GENERIC_SERVER_CODES)
    for code, status in modeled_codes(service).items():
        codes[code] = status or _guess_status(code)
    codes.update(EXTRA_CODES.get(service, {}))
    if service == "ec2":
        codes.update(EC2_CODES)
    throttle = DEFAULT_THROTTLE.get(service)
    if throttle:
        codes[throttle[0]] = throttle[1]
    return codes


def _guess_status(code: str) -> int:
    if code in GENERIC_SERVER_CODES:
        return GENERIC_SERVER_CODES[code]
    if code.startswith(("Internal", "ServiceFailure")):
        return 500
    if code.startswith("ServiceUnavailable"):
        return 503
    return 400


def status_for(service: str, code: str) -> int:
    """The HTTP status AWS sends with `code` from `service` (400 when unknown)."""
    throttle = DEFAULT_THROTTLE.get(service)
    if throttle and throttle[0] == code:
        return throttle[1]
    try:
        return known_codes(service).get(code) or _guess_status(code)
    except Exception:  # a service botocore does not know: judge by the name
        return _guess_status(code)
