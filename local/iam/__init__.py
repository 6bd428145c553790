"""IAM, enforced locally: each function may make only the AWS calls its role in template.yaml allows.

The roles are read from the template after the SAM transform (aws-sam-translator, as
CloudFormation would), their intrinsics resolved against the local resources. The local Lambda
runtime installs `install()` in each worker before the handler is imported: every boto3 call of
that worker is mapped to the IAM actions and resource ARNs AWS would authorize it against, and
refused with AWS's AccessDenied (naming the function, the action and the ARN, also written to the
function log) when the role does not allow it. Nothing else is checked: tests and operators talk
to the moto server with any credentials, as docs/local-stack.md says.

Evaluation is the identity-policy part of AWS's logic: an explicit Deny wins, then any Allow;
Action/NotAction and Resource/NotResource with `*` and `?` wildcards. A statement with a Condition
is never taken as an Allow (no condition keys exist locally), so a conditional grant fails loudly
here rather than passing here and failing in AWS.

The mapping of calls to actions is `actions.py`, the policies and their evaluation `policies.py`,
the enforcement in a worker `enforcer.py`; this package's names are the ones the stack and the
tests use.
"""

from local.iam.actions import (
    CLIENT_HELPERS,
    Place,
    actions_of,
    place_of,
    queue_arn_from_url,
    requests_of,
    secret_arns_by_name,
)
from local.iam.enforcer import Enforcer, install
from local.iam.policies import (
    MANAGED_POLICIES,
    Policy,
    every_statement,
    function_policies,
    role_statements,
    sam_transform,
)

__all__ = [
    "CLIENT_HELPERS",
    "MANAGED_POLICIES",
    "Enforcer",
    "Place",
    "Policy",
    "actions_of",
    "every_statement",
    "function_policies",
    "install",
    "place_of",
    "queue_arn_from_url",
    "requests_of",
    "role_statements",
    "sam_transform",
    "secret_arns_by_name",
]
