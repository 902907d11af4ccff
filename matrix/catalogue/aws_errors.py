"""What each AWS service answers when a parameter breaks a constraint: code, HTTP status, message.

EC2 (query protocol) answers `InvalidParameterValue` "Value (x) for parameter y is invalid."; IAM
(query, `<ErrorResponse>`) answers `ValidationError` and CloudWatch Logs (JSON) answers
`InvalidParameterException`, both with AWS's shared validation text "1 validation error detected:
Value 'x' at 'y' failed to satisfy constraint: Member must ...". `validation_error()` picks the
service's template and fills in the constraint's wording (`constraint_text()`); the rules' own
refusals (a CIDR out of range, an interval AWS does not offer) are written beside the rules.
"""

from __future__ import annotations

from typing import Any

from matrix.catalogue.model import AwsError

EC2_ERRORS = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html"
IAM_ERRORS = "https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html"
LOGS_ERRORS = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html"

#: service -> (code, status, message template); {constraint} is AWS's wording of the broken constraint.
TEMPLATES: dict[str, tuple[str, int, str, str]] = {
    "ec2": ("InvalidParameterValue", 400, "Value ({value}) for parameter {argument} is invalid. {constraint}",
            EC2_ERRORS),
    "iam": ("ValidationError", 400, "1 validation error detected: Value '{value}' at '{argument}' failed to "
            "satisfy constraint: {constraint}", IAM_ERRORS),
    "logs": ("InvalidParameterException", 400, "1 validation error detected: Value '{value}' at '{argument}' "
             "failed to satisfy constraint: {constraint}", LOGS_ERRORS),
}


def constraint_text(keyword: str, bound: Any) -> str:
    """AWS's wording of a broken constraint ("Member must have length less than or equal to 64")."""
    if keyword == "enum":
        return f"Member must satisfy enum value set: [{', '.join(str(b) for b in bound)}]"
    if keyword == "pattern":
        return f"Member must satisfy regular expression pattern: {bound}"
    if keyword == "maxLength":
        return f"Member must have length less than or equal to {bound}"
    if keyword == "minLength":
        return f"Member must have length greater than or equal to {bound}"
    if keyword == "maximum":
        return f"Member must have value less than or equal to {bound}"
    if keyword == "minimum":
        return f"Member must have value greater than or equal to {bound}"
    if keyword == "maxItems":
        return f"Member must have length less than or equal to {bound}"
    if keyword == "minItems":
        return f"Member must have length greater than or equal to {bound}"
    return f"Member must be a valid {bound}"


#: formats EC2 answers with an error of their own (a malformed id is not an "invalid value")
FORMAT_ERRORS = {
    "AWS::EC2::VPC.Id": AwsError("InvalidVpcID.Malformed", 400, 'Invalid id: "{value}"'),
    "AWS::EC2::Subnet.Id": AwsError("InvalidSubnetID.Malformed", 400, 'Invalid id: "{value}"'),
    "AWS::EC2::SecurityGroup.Id": AwsError("InvalidGroupId.Malformed", 400, 'Invalid id: "{value}"'),
    "ipv4-network": AwsError("InvalidParameterValue", 400,
                             "Value ({value}) for parameter {argument} is invalid. This is not a valid CIDR block."),
}


def validation_error(service: str, keyword: str, bound: Any, value: Any, argument: str | None) -> AwsError:
    """The error `service` answers for `value` at API parameter `argument` breaking `keyword`."""
    if keyword == "format" and bound in FORMAT_ERRORS:
        return FORMAT_ERRORS[bound].render(value, argument)
    code, status, template, _source = TEMPLATES.get(service, TEMPLATES["iam"])
    err = AwsError(code, status, template.replace("{constraint}", constraint_text(keyword, bound)))
    return err.render(value, argument)

