"""Background traffic: the management events real trails are full of, none of which matter.

A real trail is mostly people and services looking around — AssumeRole, GetCallerIdentity,
Describe*, List*, KMS Decrypt / GenerateDataKey, log and metric calls — by IAM users, assumed
roles (instance profiles, SSO sessions, service-linked roles) and AWS services themselves, a
few percent of it refused (AccessDenied). A loop has to be found in the middle of that, so
the simulator can mix such records into a topology's files (``write_simulation(noise=N)``).

    IAMUser alice (console), ci-deployer (Terraform)
    AssumedRole  <instance role>/i-…, AWSReservedSSO_…/bob@example.com,
                 AWSServiceRoleForAmazonInspector2/MandoService… (invokedBy inspector2)
    AWSService   lambda (assumes each function's role), cloudtrail, config, secretsmanager

Every record is a call loopwatch does not read (no registered event name), so each one parses
as skipped: used counts and findings are those of the topology alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from loopwatch.topology.cloudtrail import (
    TERRAFORM_AGENT,
    CloudTrail,
    Principal,
    Record,
    event_time,
)
from loopwatch.topology.ids import Ids, stable_id, stable_ip
from loopwatch.topology.model import Topology
from loopwatch.topology.simulate import TimedRecord

ERROR_SHARE = 0.03
CONSOLE_AGENT = "AWS Internal"
S3_CONSOLE_AGENT = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.219-186.866.amzn2int.x86_64"
    " OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation"
    " cfg/retry-mode/standard]"
)
AGENT_SDK = "aws-sdk-go-v2/1.24.1 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64"
CW_AGENT = "CWAgent/1.300032.3b392 (go1.21.5; linux; amd64) ip-10-0-12-34"
TRAIL_BUCKET = "org-cloudtrail-logs"


def noise_records(topology: Topology, start: float, end: float, count: int) -> list[TimedRecord]:
    """``count`` background records of ``topology``'s account and region, spread uniformly over
    ``[start, end]`` (epoch seconds), in time order.

    Deterministic: drawn from their own generator (seeded by the topology's seed), so adding
    noise never changes the topology's own records.
    """
    if count <= 0:
        return []
    rng = random.Random(f"{topology.traffic.seed}/noise")
    noise = _Noise(topology, rng, start)
    calls = noise.calls()
    weights = [weight for weight, _ in calls]
    times = sorted(rng.uniform(start, end) for _ in range(count))
    out = []
    for t in times:
        (make,) = rng.choices([make for _, make in calls], weights)
        record = make(t)
        refusable = record["userIdentity"]["type"] != "AWSService"
        if refusable and rng.random() < ERROR_SHARE and record["eventName"] != "GetCallerIdentity":
            _refuse(record)
        out.append(TimedRecord(float(int(t)), record))
    return out


def _refuse(record: Record) -> None:
    """Turn a call into the AccessDenied that a few percent of real calls are."""
    who = record["userIdentity"]["arn"]
    service = record["eventSource"].split(".", 1)[0]
    record["errorCode"] = "AccessDenied"
    record["errorMessage"] = (
        f"User: {who} is not authorized to perform: {service}:{record['eventName']}"
        " because no identity-based policy allows the action"
    )
    record["responseElements"] = None


class _Noise:
    def __init__(self, topology: Topology, rng: random.Random, session_start: float) -> None:
        self.rng = rng
        self.ids = Ids(rng)
        self.ct = CloudTrail(topology, self.ids, session_start)
        self.acct, self.region = topology.account, topology.region
        self.roles = sorted({f.role for f in topology.functions}) or ["app-exec"]
        self.has_functions = bool(topology.functions)
        self.functions = [f.name for f in topology.functions] or ["app"]
        self.buckets = [*topology.buckets, TRAIL_BUCKET, f"{self.acct}-{self.region}-artifacts"]
        self.instances = [f"i-0{self.ids.hex(16)}" for _ in range(3)]
        self.key = f"arn:aws:kms:{self.region}:{self.acct}:key/{self.ids.uuid4()}"
        self.session_start = event_time(session_start)
        alice = self.ct.user("alice")
        self.console = Principal(alice.identity, "203.0.113.77", S3_CONSOLE_AGENT)
        deployer = self.ct.user("ci-deployer")
        self.terraform = Principal(deployer.identity, "198.51.100.40", TERRAFORM_AGENT)
        self.inspector = self._role(
            "AWSServiceRoleForAmazonInspector2",
            f"MandoService{rng.randrange(10**18)}",
            path="aws-service-role/inspector2.amazonaws.com/",
            invoked_by="inspector2.amazonaws.com",
        )

    # ---- principals ------------------------------------------------------------------

    def _role(
        self,
        role: str,
        session: str,
        *,
        path: str = "",
        invoked_by: str | None = None,
        ip: str | None = None,
        agent: str = AGENT_SDK,
    ) -> Principal:
        role_id = stable_id("AROA", f"{self.acct}/{role}")
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{self.acct}:assumed-role/{role}/{session}",
            "accountId": self.acct,
            "accessKeyId": stable_id("ASIA", f"{self.acct}/{role}/{session}", 16),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{self.acct}:role/{path}{role}",
                    "accountId": self.acct,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": self.session_start, "mfaAuthenticated": "false"},
            },
        }
        if invoked_by:
            identity["invokedBy"] = invoked_by
            del identity["accessKeyId"]
        return Principal(identity, ip or invoked_by or stable_ip(session), invoked_by or agent)

    def instance(self) -> Principal:
        """An EC2 instance profile: session name is the instance id (never a function)."""
        session = self.rng.choice(self.instances)
        who = self._role("web-server-role", session, ip=stable_ip(session))
        who.identity["sessionContext"]["ec2RoleDelivery"] = "2.0"
        return who

    def sso(self) -> Principal:
        return self._role(
            "AWSReservedSSO_AdministratorAccess_5c1fa1b7e9d1ab0c",
            "bob@example.com",
            path="aws-reserved/sso.amazonaws.com/",
            ip="203.0.113.9",
            agent=CONSOLE_AGENT,
        )

    def service(self, name: str) -> Principal:
        return self.ct.service(f"{name}.amazonaws.com")

    # ---- the calls -------------------------------------------------------------------

    def calls(self) -> list[tuple[int, Callable[[float], Record]]]:
        """(weight, maker) for each kind of call, weighted roughly as in real trails."""
        return [
            (14, self.decrypt),
            (8, self.generate_data_key),
            (10, self.assume_role),
            (6, self.get_caller_identity),
            (8, self.describe_instances),
            (4, self.describe_security_groups),
            (3, self.list_buckets),
            (5, self.get_bucket_acl),
            (6, self.describe_log_streams),
            (8, self.put_metric_data),
            (5, self.get_parameter),
            (3, self.get_secret_value),
            (3, self.get_role),
            (3, self.list_functions),
            (2, self.get_function),
        ]

    def _call(
        self,
        t: float,
        who: Principal,
        source: str,
        name: str,
        request: dict[str, Any] | None,
        response: dict[str, Any] | None = None,
        *,
        read_only: bool = True,
        resources: list[dict[str, str]] | None = None,
    ) -> Record:
        return self.ct.record(
            t, who, source, name, request, response, read_only=read_only, resources=resources
        )

    def decrypt(self, t: float) -> Record:
        if self.rng.random() < 0.5 or not self.has_functions:
            who = self.instance()
            context = {"aws:ssm:parameterName": "/app/db-password"}
        else:
            # A function reading its encrypted settings: a function's own identity, but a call
            # that writes nothing.
            name = self.rng.choice(self.functions)
            who = self.ct.function(name)
            arn = f"arn:aws:lambda:{self.region}:{self.acct}:function:{name}"
            context = {"aws:lambda:FunctionArn": arn}
        request = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": context}
        key = [{"accountId": self.acct, "type": "AWS::KMS::Key", "ARN": self.key}]
        return self._call(t, who, "kms.amazonaws.com", "Decrypt", request, resources=key)

    def generate_data_key(self, t: float) -> Record:
        bucket = self.rng.choice(self.buckets)
        request = {
            "keyId": self.key,
            "keySpec": "AES_256",
            "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{bucket}"},
        }
        who = self.service("cloudtrail") if bucket == TRAIL_BUCKET else self.instance()
        key = [{"accountId": self.acct, "type": "AWS::KMS::Key", "ARN": self.key}]
        return self._call(t, who, "kms.amazonaws.com", "GenerateDataKey", request, resources=key)

    def assume_role(self, t: float) -> Record:
        pick = self.rng.random()
        if pick < 0.6:
            # Lambda assumes a function's execution role, session named after the function:
            # the same shape a function's own calls have, and still not a call that writes.
            who, role = self.service("lambda"), self.rng.choice(self.roles)
            session = self.rng.choice(self.functions)
        elif pick < 0.8:
            who, role = self.service("inspector2"), "AWSServiceRoleForAmazonInspector2"
            session = f"MandoService-{self.rng.randrange(10**18)}"
        else:
            who, role, session = self.terraform, "deploy", f"terraform-{self.ids.hex(8)}"
        role_arn = f"arn:aws:iam::{self.acct}:role/{role}"
        request: dict[str, Any] = {
            "roleArn": role_arn,
            "roleSessionName": session,
            "durationSeconds": 3600,
        }
        role_id = stable_id("AROA", f"{self.acct}/{role}")
        response = {
            "credentials": {
                "accessKeyId": stable_id("ASIA", f"{self.acct}/{role}/{session}", 16),
                "sessionToken": self.ids.chars(120),
                "expiration": event_time(t + 3600),
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{session}",
                "arn": f"arn:aws:sts::{self.acct}:assumed-role/{role}/{session}",
            },
        }
        res = [{"accountId": self.acct, "type": "AWS::IAM::Role", "ARN": role_arn}]
        return self._call(
            t, who, "sts.amazonaws.com", "AssumeRole", request, response, resources=res
        )

    def get_caller_identity(self, t: float) -> Record:
        who = self.rng.choice([self.terraform, self.instance(), self.sso()])
        return self._call(t, who, "sts.amazonaws.com", "GetCallerIdentity", None)

    def describe_instances(self, t: float) -> Record:
        ids = {"items": [{"instanceId": self.rng.choice(self.instances)}]}
        request = {"instancesSet": ids, "filterSet": {}}
        who = self.inspector if self.rng.random() < 0.5 else self.terraform
        return self._call(t, who, "ec2.amazonaws.com", "DescribeInstances", request)

    def describe_security_groups(self, t: float) -> Record:
        request: dict[str, Any] = {
            "securityGroupSet": {},
            "securityGroupIdSet": {},
            "filterSet": {},
        }
        return self._call(t, self.terraform, "ec2.amazonaws.com", "DescribeSecurityGroups", request)

    def list_buckets(self, t: float) -> Record:
        return self._call(
            t, self.console, "s3.amazonaws.com", "ListBuckets", {"Host": "s3.amazonaws.com"}
        )

    def get_bucket_acl(self, t: float) -> Record:
        bucket = self.rng.choice(self.buckets)
        who = self.service("cloudtrail") if bucket == TRAIL_BUCKET else self.service("config")
        host = f"{bucket}.s3.{self.region}.amazonaws.com"
        res = [{"accountId": self.acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
        request = {"bucketName": bucket, "Host": host, "acl": ""}
        return self._call(t, who, "s3.amazonaws.com", "GetBucketAcl", request, resources=res)

    def describe_log_streams(self, t: float) -> Record:
        request = {
            "logGroupName": f"/aws/lambda/{self.rng.choice(self.functions)}",
            "orderBy": "LastEventTime",
            "descending": True,
            "limit": 50,
        }
        return self._call(t, self.sso(), "logs.amazonaws.com", "DescribeLogStreams", request)

    def put_metric_data(self, t: float) -> Record:
        who = self.instance()
        who = Principal(who.identity, who.ip, CW_AGENT)
        return self._call(
            t,
            who,
            "monitoring.amazonaws.com",
            "PutMetricData",
            {"namespace": "CWAgent"},
            read_only=False,
        )

    def get_parameter(self, t: float) -> Record:
        request = {"name": "/app/db-password", "withDecryption": True}
        return self._call(t, self.instance(), "ssm.amazonaws.com", "GetParameter", request)

    def get_secret_value(self, t: float) -> Record:
        request = {
            "secretId": f"arn:aws:secretsmanager:{self.region}:{self.acct}:secret:app/api-key-AbCdEf"
        }
        return self._call(
            t, self.instance(), "secretsmanager.amazonaws.com", "GetSecretValue", request
        )

    def get_role(self, t: float) -> Record:
        request = {"roleName": self.rng.choice(self.roles)}
        return self._call(t, self.terraform, "iam.amazonaws.com", "GetRole", request)

    def list_functions(self, t: float) -> Record:
        return self._call(t, self.console, "lambda.amazonaws.com", "ListFunctions20150331", None)

    def get_function(self, t: float) -> Record:
        request = {"functionName": self.rng.choice(self.functions)}
        return self._call(
            t, self.terraform, "lambda.amazonaws.com", "GetFunction20150331v2", request
        )
