"""Chaos: AWS faults injected on purpose, the same rules for every client and every target.

    rule file (ours | LocalStack Chaos | FIS)  --rules-->  RuleSet (seeded, armed at run time)
        |-> proxy.FaultProxy          HTTP reverse proxy on 127.0.0.1 in front of moto / LocalStack:
        |                             every client (boto3, terraform, the AWS CLI) gets the faults
        |-> hooks.FaultHooks          the same rules inside our boto3 clients (real AWS: TLS, no proxy)
        |-> localstack_api            the rules sent to a LocalStack that has the Chaos API
        `-> fis                       an AWS FIS experiment template for EC2 throttling, to run yourself
    every injected fault -> faultlog.FaultLog (JSON lines + counters) -> reports, chaos expectations

Modules, one concern each:

* `catalog`   what botocore's service models say (services, operations, protocols, S3 routes)
* `codes`     what AWS really answers (error codes per service, status, wording, throttles)
* `protocol`  reading a request (region, service, operation, protocol, mutating) and writing an
              error the way each protocol does
* `rules`     the rule model, the three file formats, validation (UsageError), seeded evaluation
* `faultlog`  the fault log
* `proxy`     the fault proxy
* `hooks`     client-side injection through botocore's event system
* `fis`       FIS experiment template generation
* `localstack_api`  the LocalStack Chaos API client
* `cli`       `python -m matrix proxy`

Importing this package is cheap: botocore models load on first use.
"""

from matrix.chaos.faultlog import FaultLog, count_faults, read_fault_log
from matrix.chaos.proxy import FaultProxy
from matrix.chaos.rules import Rule, RuleSet, load_rules, parse_rules, rule

__all__ = ["FaultLog", "FaultProxy", "Rule", "RuleSet", "count_faults", "load_rules", "parse_rules",
           "read_fault_log", "rule"]
