"""Classification of everything in a synthesized document that is not a resource argument: the
`provider "aws"` block, the S3 backend, the meta-arguments of a resource, and the other top-level
blocks and their keys. Same `Arg` entries as the handlers' tables (spec.py).

Provider and backend entries are mostly `local`: they tell terraform's client how to reach and
authenticate to AWS, and the engine reaches the cell's target with the cell's credentials instead.
What changes what AWS ends up holding is honoured (`default_tags`, `ignore_tags`, the account
allow/deny lists) or refused by name (`assume_role`, FIPS endpoints, tag-policy checks, SSE-KMS
state objects, ...). The backend arguments terraform 1.11.4 itself rejects ("No argument or block
type is named ...") are refused with that reason (tests/test_arguments.py asks the terraform binary).
"""

from __future__ import annotations

from matrix.engines.embedded.arguments.spec import Arg, local, refused

CREDENTIALS = local("local-only: the engine signs with the cell's credentials (the emulator's test keys, or "
                    "the AWS profile the matrix profile names)")
TARGET = local("local-only: the engine calls the cell's target (the run's emulator endpoint, its fault proxy, "
               "or AWS); endpoint settings are for the terraform engine", children=True)
SKIP = local("local-only: a check of terraform's provider the engine does not make")
RETRIES = local("local-only: the run's botocore standard retries apply (--max-attempts)")
CONNECTION = local("local-only: a setting of terraform's HTTP client; the engine connects as the run configures")
ACCOUNTS = local("honoured: before any change the engine asks STS for the account and stops unless it is "
                 "allowed (allowed_account_ids) and not forbidden (forbidden_account_ids)")
ASSUME = refused("assuming a role is not implemented by the embedded engine (on real accounts name role_arn "
                 "in [profiles.P.aws] of the profile file)", children=True)

PROVIDER: dict[str, Arg] = {
    "region": local("honoured: the region every resource and data source is in (a literal region name)"),
    "default_tags": local("honoured: merged under each taggable resource's tags into tags_all, applied and "
                          "read back", children=True),
    "default_tags.tags": local("honoured: see default_tags"),
    "ignore_tags": local("honoured: tags with these keys or key prefixes are never set, removed or compared",
                         children=True),
    "ignore_tags.keys": local("honoured: see ignore_tags"),
    "ignore_tags.key_prefixes": local("honoured: see ignore_tags"),
    "allowed_account_ids": ACCOUNTS,
    "forbidden_account_ids": ACCOUNTS,
    "access_key": CREDENTIALS, "secret_key": CREDENTIALS, "token": CREDENTIALS, "profile": CREDENTIALS,
    "shared_config_files": CREDENTIALS, "shared_credentials_files": CREDENTIALS,
    "ec2_metadata_service_endpoint": CREDENTIALS, "ec2_metadata_service_endpoint_mode": CREDENTIALS,
    "endpoints": TARGET,
    "s3_use_path_style": TARGET,
    "s3_us_east_1_regional_endpoint": local("local-only: a no-op in provider 6"),
    "sts_region": TARGET,
    "skip_credentials_validation": SKIP, "skip_metadata_api_check": SKIP, "skip_region_validation": SKIP,
    "skip_requesting_account_id": SKIP,
    "max_retries": RETRIES, "retry_mode": RETRIES, "token_bucket_rate_limiter_capacity": RETRIES,
    "http_proxy": CONNECTION, "https_proxy": CONNECTION, "no_proxy": CONNECTION, "custom_ca_bundle": CONNECTION,
    "insecure": CONNECTION,
    "alias": refused("aliased (several) AWS provider configurations are not supported"),
    "assume_role": ASSUME,
    "assume_role_with_web_identity": ASSUME,
    "use_dualstack_endpoint": refused("dual-stack endpoints are not implemented", allowed=(False,)),
    "use_fips_endpoint": refused("FIPS endpoints are not implemented", allowed=(False,)),
    "tag_policy_compliance": refused("validating tags against AWS Organizations tag policies is not implemented",
                                     allowed=("disabled",)),
}

TF_1_11_REJECTS = "terraform 1.11.4 rejects it too (No argument or block type is named ...): use the assume_role block"

BACKEND_S3: dict[str, Arg] = {
    "bucket": local("honoured: the bucket the state is written to (checked, or created by --bootstrap-backend)"),
    "key": local("honoured: the state object's key"),
    "region": local("honoured: the bucket's region"),
    "encrypt": local("honoured: the state object is written with SSE-S3 (AES256) and the bootstrapped bucket "
                     "encrypts by default"),
    "use_lockfile": local("honoured: <key>.tflock written with If-None-Match: *, as terraform does"),
    "dynamodb_table": local("honoured: terraform's DynamoDB lock item and its -md5 digest"),
    "workspace_key_prefix": local("honoured: it applies to non-default workspaces only; the engine deploys the "
                                  "default workspace, whose state is at key"),
    "allowed_account_ids": ACCOUNTS, "forbidden_account_ids": ACCOUNTS,
    "access_key": CREDENTIALS, "secret_key": CREDENTIALS, "token": CREDENTIALS, "profile": CREDENTIALS,
    "shared_config_files": CREDENTIALS, "shared_credentials_files": CREDENTIALS,
    "shared_credentials_file": CREDENTIALS,
    "ec2_metadata_service_endpoint": CREDENTIALS, "ec2_metadata_service_endpoint_mode": CREDENTIALS,
    "endpoints": TARGET, "endpoint": TARGET, "dynamodb_endpoint": TARGET, "iam_endpoint": TARGET,
    "sts_endpoint": TARGET, "sts_region": TARGET, "force_path_style": TARGET, "use_path_style": TARGET,
    "skip_credentials_validation": SKIP, "skip_metadata_api_check": SKIP, "skip_region_validation": SKIP,
    "skip_requesting_account_id": SKIP, "skip_s3_checksum": SKIP,
    "max_retries": RETRIES, "retry_mode": RETRIES,
    "http_proxy": CONNECTION, "https_proxy": CONNECTION, "no_proxy": CONNECTION, "custom_ca_bundle": CONNECTION,
    "insecure": CONNECTION,
    "acl": refused("a canned ACL on the state object is not implemented (the bucket's default applies)"),
    "kms_key_id": refused("SSE-KMS state objects are not implemented (encrypt = true writes SSE-S3)"),
    "sse_customer_key": refused("SSE-C state objects are not implemented"),
    "assume_role": ASSUME,
    "assume_role_with_web_identity": ASSUME,
    "assume_role_policy": refused(TF_1_11_REJECTS), "assume_role_policy_arns": refused(TF_1_11_REJECTS),
    "assume_role_tags": refused(TF_1_11_REJECTS), "assume_role_transitive_tag_keys": refused(TF_1_11_REJECTS),
    "external_id": refused(TF_1_11_REJECTS), "role_arn": refused(TF_1_11_REJECTS),
    "session_name": refused(TF_1_11_REJECTS),
    "use_legacy_workflow": refused("terraform 1.11.4 rejects it too (No argument or block type is named ...)"),
}

#: Meta-arguments of a resource or data source body (besides its arguments).
META: dict[str, Arg] = {
    "//": local("cdktf's metadata: ignored, as terraform ignores JSON comments"),
    "depends_on": local("honoured: explicit dependencies order creates, updates and deletes"),
    "lifecycle": local("see its nested arguments"),
    "lifecycle.ignore_changes": local("honoured: the named arguments (or all) are not compared, updated or read "
                                      "back after creation"),
    "lifecycle.prevent_destroy": local("honoured: a plan that would destroy or replace the resource fails "
                                       "before any change, as terraform's does"),
    "lifecycle.create_before_destroy": local("honoured: a replacement creates the new object first and destroys "
                                             "the old one (kept in state as deposed) after its dependents moved"),
    "lifecycle.replace_triggered_by": refused("lifecycle.replace_triggered_by is not implemented"),
    "lifecycle.precondition": refused("lifecycle preconditions are not implemented"),
    "lifecycle.postcondition": refused("lifecycle postconditions are not implemented"),
    "count": refused("count (several instances of one resource) is not implemented"),
    "for_each": refused("for_each (several instances of one resource) is not implemented"),
    "provisioner": refused("provisioners are not implemented"),
    "connection": refused("connection blocks (for provisioners) are not implemented"),
    "dynamic": refused("dynamic blocks are not implemented"),
    "provider": refused("a provider other than the default aws configuration", allowed=("aws",)),
}

#: Top-level blocks of the document and the keys inside the non-resource ones.
DOCUMENT: dict[str, Arg] = {
    "//": local("cdktf's metadata: ignored"),
    "terraform": local("see its keys"),
    "terraform.backend": local("the S3 backend: see its arguments"),
    "terraform.required_providers": local("local-only: the embedded engine stands in for the AWS provider; its "
                                          "argument table comes from hashicorp/aws 6.25.0"),
    "terraform.required_version": local("local-only: the state is written as terraform 1.11.4 writes it"),
    "terraform.cloud": refused("HCP Terraform / cloud blocks are not supported: the state lives in the S3 backend"),
    "terraform.experiments": refused("terraform experiments are not supported"),
    "provider": local("only provider \"aws\" (one configuration) is supported"),
    "resource": local("the supported resource types"),
    "data": local("the supported data sources"),
    "output": local("see output keys"),
    "output.value": local("honoured: written to the state's outputs"),
    "output.description": local("local-only: documentation"),
    "output.sensitive": local("honoured: marked sensitive in the state, as terraform does"),
    "output.depends_on": local("honoured: outputs are evaluated after every resource"),
    "output.precondition": refused("output preconditions are not implemented"),
    "output.ephemeral": refused("ephemeral outputs are not implemented"),
    "variable": local("see variable keys"),
    "variable.default": local("honoured: the value unless the run sets it (run_id)"),
    "variable.type": local("local-only: values are used as given"),
    "variable.description": local("local-only: documentation"),
    "variable.sensitive": local("local-only: the engine never logs variable values"),
    "variable.nullable": local("local-only"),
    "variable.validation": refused("variable validation rules are not implemented"),
    "variable.ephemeral": refused("ephemeral variables are not implemented"),
    "locals": refused("locals (and local.* references) are not implemented"),
    "module": refused("modules are not implemented"),
    "moved": refused("moved blocks are not implemented"),
    "import": refused("import blocks are not implemented"),
    "removed": refused("removed blocks are not implemented"),
    "check": refused("check blocks are not implemented"),
    "ephemeral": refused("ephemeral resources are not implemented"),
}
