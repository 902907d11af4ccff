"""The AWS acceptance catalogue: what AWS would refuse, or accept and then break, in a stack.

Every rule has an id, a severity, the AWS error it prevents (code, HTTP status, message) or the
behaviour that breaks, and its source. The same rules run at every stage: at synth
(`python -m matrix check`, suites/synth), in the strict emulator proxy (`check_argument` on each
call's parameters) and as the reference for the live suite's behaviour checks.

How the parts fit:
* `model`          AwsError, Rule, Finding; the registries (RULES, DOC_CHECKS, CROSS_CHECKS, ARG_CHECKS)
* `doc`            SynthDoc (one cdk.tf.json) and its lookups; references (`${...}`) as a graph
* `mapping`        the one table: Terraform argument -> CloudFormation property and API parameter (13 types)
* `schema`         constraints from AWS's data: cfn-lint's CloudFormation schemas and botocore models
* `aws_errors`     what each service answers for a broken constraint
* `values`         value rules: schema-* (data-driven) and curated constraints (flow-log interval,
                   CIDR prefixes, tag limits), applied by `check_value`
* `iam`            IAM grammar, sizes, service principals, wildcards
* `network`        wiring from the reference graph: public subnets, NAT placement, default routes,
                   subnet CIDRs, AZs, endpoint services
* `service_roles`  a flow log's role: trust and permissions on its log group
* `project`        backend, tags and names, regions, cdktf.json, account-global names across cells
* `evaluate`       check_argument / check_doc / check_docs
"""

from __future__ import annotations

from matrix.catalogue.doc import Context, SynthDoc
from matrix.catalogue.evaluate import check_argument, check_doc, check_docs, doc_rule_ids
from matrix.catalogue.mapping import TYPES, Arg, TypeMap
from matrix.catalogue.model import CROSS_CHECKS, RULES, AwsError, Finding, Rule

__all__ = [
    "CROSS_CHECKS", "RULES", "TYPES", "Arg", "AwsError", "Context", "Finding", "Rule", "SynthDoc", "TypeMap",
    "check_argument", "check_doc", "check_docs", "doc_rule_ids",
]
