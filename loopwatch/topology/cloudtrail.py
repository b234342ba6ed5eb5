"""CloudTrail records shaped like real ones, for the calls a simulated topology makes.

Field paths follow DESIGN §4 exactly (the parser reads nothing else); the rest of each record
copies real CloudTrail (eventVersion, userIdentity with sessionContext, tlsDetails,
additionalEventData…) so that parsers meet the noise they will meet in production.

    identity:  IAMUser (people, setup)  |  AssumedRole role/<function name>  |  AWSService
               AssumedRole role/<session> (a CI job, a console sign-in; Step Functions with
               invokedBy, as its state machine's role and a random session)
    envelope:  one shape for management and data events; per-call request/response below
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from loopwatch.topology.ids import Ids, stable_id, stable_ip, stable_uuid
from loopwatch.topology.model import (
    Destination,
    EventSourceMapping,
    Ref,
    Rule,
    S3Notification,
    StateMachine,
    Subscription,
    Topology,
)

Record = dict[str, Any]

USER_AGENT = "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off"
TERRAFORM_AGENT = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.6.6 (+https://www.terraform.io) "
    "terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.20.12 md/GOOS#linux md/GOARCH#amd64"
)
LAMBDA_AGENT = (
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10.205-215.796.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.1 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
    "cfg/retry-mode#legacy Botocore/1.34.11"
)
USER_IP = "198.51.100.23"
STATES = "states.amazonaws.com"
EVENT_PATTERN = '{"source":["app.loopwatch-sim"]}'
"""Every simulated rule's pattern: it matches what simulated functions put on the bus."""
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def event_time(t: float) -> str:
    """CloudTrail's ``eventTime``: whole seconds, UTC, ``Z`` (the fraction is dropped)."""
    return datetime.fromtimestamp(math.floor(t), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def millis_time(t: float) -> str:
    ms = math.floor(t * 1000)
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{ms % 1000:03d}Z"


class Principal:
    """Who makes a call: an IAM user, a Lambda function (its role session) or a service."""

    def __init__(self, identity: dict[str, Any], ip: str, agent: str) -> None:
        self.identity = identity
        self.ip = ip
        self.agent = agent


class CloudTrail:
    """Builds the records of one topology's account and region, ids from ``ids``."""

    def __init__(self, topology: Topology, ids: Ids, session_start: float) -> None:
        self.topo = topology
        self.acct = topology.account
        self.region = topology.region
        self.ids = ids
        self.session_start = event_time(session_start)

    # ---- principals ------------------------------------------------------------------

    def user(self, name: str) -> Principal:
        identity = {
            "type": "IAMUser",
            "principalId": stable_id("AIDA", f"{self.acct}/{name}"),
            "arn": f"arn:aws:iam::{self.acct}:user/{name}",
            "accountId": self.acct,
            "accessKeyId": stable_id("AKIA", f"{self.acct}/{name}/key", 16),
            "userName": name,
        }
        return Principal(identity, USER_IP, USER_AGENT)

    def function(self, name: str) -> Principal:
        """Lambda runs a function as ``assumed-role/<role>/<function name>``."""
        identity = self._assumed(self.topo.function(name).role, name)
        return Principal(identity, stable_ip(f"{self.acct}/{name}"), LAMBDA_AGENT)

    def role_session(self, role: str, session: str) -> Principal:
        """Anyone who may assume ``role`` names the session as they like (a CI job, SSO)."""
        return Principal(self._assumed(role, session), USER_IP, USER_AGENT)

    def states_session(self, machine: str) -> Principal:
        """Step Functions calls as the state machine's role, with a random 32-letter session
        and ``invokedBy`` (the real Invoke data event of a Task state)."""
        identity = self._assumed(
            self.topo.state_machine(machine).role, self.ids.chars(32, _LETTERS)
        )
        identity["invokedBy"] = STATES
        return Principal(identity, STATES, STATES)

    def _assumed(self, role: str, session: str) -> dict[str, Any]:
        role_id = stable_id("AROA", f"{self.acct}/{role}")
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{self.acct}:assumed-role/{role}/{session}",
            "accountId": self.acct,
            "accessKeyId": stable_id("ASIA", f"{self.acct}/{role}/{session}", 16),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{self.acct}:role/{role}",
                    "accountId": self.acct,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": self.session_start, "mfaAuthenticated": "false"},
            },
        }

    @staticmethod
    def service(principal: str) -> Principal:
        return Principal({"type": "AWSService", "invokedBy": principal}, principal, principal)

    # ---- envelope --------------------------------------------------------------------

    def record(
        self,
        t: float,
        who: Principal,
        source: str,
        name: str,
        request: dict[str, Any] | None,
        response: dict[str, Any] | None = None,
        *,
        data: bool = False,
        read_only: bool = False,
        resources: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        host: str | None = None,
    ) -> Record:
        rec: Record = {
            "eventVersion": "1.09" if data else "1.08",
            "userIdentity": who.identity,
            "eventTime": event_time(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": self.region,
            "sourceIPAddress": who.ip,
            "userAgent": who.agent,
            "requestParameters": request,
            "responseElements": response,
        }
        if extra:
            rec["additionalEventData"] = extra
        s3 = source == "s3.amazonaws.com"
        rec["requestID"] = self.ids.s3_request_id() if s3 else self.ids.uuid4()
        rec["eventID"] = self.ids.uuid4()
        rec["readOnly"] = read_only
        if resources is not None:
            rec["resources"] = resources
        rec["eventType"] = "AwsApiCall"
        rec["managementEvent"] = not data
        rec["recipientAccountId"] = self.acct
        if who.identity["type"] == "AWSService":
            rec["sharedEventID"] = self.ids.uuid4()
        rec["eventCategory"] = "Data" if data else "Management"
        if "invokedBy" not in who.identity:  # a service's own call states no TLS
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host
                or f"{source.split('.')[0]}.{self.region}.amazonaws.com",
            }
        return rec

    def _res(self, kind: str, arn: str) -> dict[str, str]:
        return {"accountId": self.acct, "type": kind, "ARN": arn}

    def _s3_extra(self, bytes_in: int) -> dict[str, Any]:
        return {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": bytes_in,
            "SSEApplied": "Default_SSE_S3",
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": self.ids.amz_id_2(),
            "bytesTransferredOut": 0,
        }

    # ---- data events (writes) ----------------------------------------------------------

    def s3_object(self, t: float, who: Principal, bucket: str, key: str, op: str) -> Record:
        """PutObject / CopyObject / DeleteObject on ``bucket``/``key``."""
        host = f"{bucket}.s3.{self.region}.amazonaws.com"
        request: dict[str, Any] = {"bucketName": bucket, "Host": host, "key": key}
        response: dict[str, Any] | None = {"x-amz-server-side-encryption": "AES256"}
        name = {"put": "PutObject", "copy": "CopyObject", "delete": "DeleteObject"}[op]
        if op == "copy":
            request["x-amz-copy-source"] = f"{bucket}/{key}.src"
        if op == "delete":
            response = None
        resources = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            self._res("AWS::S3::Bucket", f"arn:aws:s3:::{bucket}"),
        ]
        size = 0 if op != "put" else 1024 + self.ids.rng.randrange(200_000)
        return self.record(
            t, who, "s3.amazonaws.com", name, request, response, data=True,
            resources=resources, extra=self._s3_extra(size), host=host,
        )  # fmt: skip

    def send_message(self, t: float, who: Principal, queue: str) -> Record:
        request = {
            "queueUrl": self.topo.queue_url(queue),
            "messageBody": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }
        response = {"mD5OfMessageBody": self.ids.hex(32), "messageId": self.ids.uuid4()}
        arn = self.topo.arn(Ref("sqs", queue))
        return self.record(
            t, who, "sqs.amazonaws.com", "SendMessage", request, response, data=True,
            resources=[self._res("AWS::SQS::Queue", arn)],
        )  # fmt: skip

    def publish(self, t: float, who: Principal, topic: str) -> Record:
        arn = self.topo.arn(Ref("sns", topic))
        request = {"topicArn": arn, "message": "HIDDEN_DUE_TO_SECURITY_REASONS"}
        return self.record(
            t, who, "sns.amazonaws.com", "Publish", request, {"messageId": self.ids.uuid4()},
            data=True, resources=[self._res("AWS::SNS::Topic", arn)],
        )  # fmt: skip

    def put_item(self, t: float, who: Principal, table: str) -> Record:
        request = {"tableName": table, "key": {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"}}
        arn = self.topo.arn(Ref("dynamodb", table))
        return self.record(
            t, who, "dynamodb.amazonaws.com", "PutItem", request, None, data=True,
            resources=[self._res("AWS::DynamoDB::Table", arn)],
        )  # fmt: skip

    def put_record(self, t: float, who: Principal, stream: str) -> Record:
        request = {"streamName": stream, "partitionKey": self.ids.hex(8)}
        response = {
            "shardId": "shardId-000000000000",
            "sequenceNumber": str(49_600_000_000_000_000_000 + self.ids.rng.getrandbits(60)),
        }
        arn = self.topo.arn(Ref("kinesis", stream))
        return self.record(
            t, who, "kinesis.amazonaws.com", "PutRecord", request, response, data=True,
            resources=[self._res("AWS::Kinesis::Stream", arn)],
        )  # fmt: skip

    def put_events(self, t: float, who: Principal, bus: str) -> Record:
        entry: dict[str, Any] = {
            "source": "app.loopwatch-sim",
            "detailType": "ItemChanged",
            "detail": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }
        if bus != "default":  # the SDK leaves eventBusName out for the default bus
            entry["eventBusName"] = bus
        response = {"failedEntryCount": 0, "entries": [{"eventId": self.ids.uuid4()}]}
        return self.record(
            t, who, "events.amazonaws.com", "PutEvents", {"entries": [entry]}, response, data=True
        )

    def invoke(
        self, t: float, who: Principal, function: str, source_arn: str | None = None
    ) -> Record:
        """Lambda ``Invoke`` data event: by a caller, or by a service on behalf of a trigger.

        A service's carries ``sourceArn`` and ``sourceAccount`` (real S3 and EventBridge
        records do); EventBridge names the rule there, not the bus (``rule_invoke_source``).
        """
        arn = self.topo.arn(Ref("fn", function))
        request: dict[str, Any] = {"functionName": arn, "invocationType": "Event"}
        if source_arn is not None:
            request["sourceArn"] = source_arn
            request["sourceAccount"] = self.acct
        return self.record(
            t, who, "lambda.amazonaws.com", "Invoke", request, None, data=True,
            resources=[self._res("AWS::Lambda::Function", arn)],
            extra={"functionVersion": f"{arn}:$LATEST"},
        )  # fmt: skip

    def states_invoke(self, t: float, machine: str, function: str) -> Record:
        """The Invoke data event of a Task state: ``requestParameters`` null, the function
        only in ``resources``, the caller the state machine's role (nothing names the
        machine itself)."""
        arn = self.topo.arn(Ref("fn", function))
        return self.record(
            t, self.states_session(machine), "lambda.amazonaws.com", "Invoke", None, None,
            data=True, resources=[self._res("AWS::Lambda::Function", arn)],
            extra={"functionVersion": f"{arn}:$LATEST"},
        )  # fmt: skip

    def start_execution(self, t: float, who: Principal, machine: str) -> Record:
        arn = self.topo.arn(Ref("states", machine))
        name = self.ids.uuid4()
        request = {"stateMachineArn": arn, "name": name, "input": "HIDDEN_DUE_TO_SECURITY_REASONS"}
        execution = arn.replace(":stateMachine:", ":execution:") + f":{name}"
        response = {"executionArn": execution, "startDate": f"{event_time(t)[:-1]}.000Z"}
        return self.record(t, who, STATES, "StartExecution", request, response)

    def write(self, t: float, who: Principal, ref: Ref, key: str | None, op: str) -> Record:
        """The data event of one write into ``ref`` (an S3 object, a message, an item…)."""
        match ref.kind:
            case "s3":
                assert key is not None  # the loader requires a key for S3 writes
                return self.s3_object(t, who, ref.name, key, op)
            case "sqs":
                return self.send_message(t, who, ref.name)
            case "sns":
                return self.publish(t, who, ref.name)
            case "dynamodb":
                return self.put_item(t, who, ref.name)
            case "kinesis":
                return self.put_record(t, who, ref.name)
            case "events":
                return self.put_events(t, who, ref.name)
            case "states":
                return self.start_execution(t, who, ref.name)
            case _:
                return self.invoke(t, who, ref.name)

    # ---- management events (setup) -------------------------------------------------------

    def create_resource(self, t: float, who: Principal, ref: Ref) -> Record:
        """CreateBucket / CreateQueue / CreateTopic / CreateTable / CreateStream / CreateEventBus."""
        n = ref.name
        arn = self.topo.arn(ref)
        match ref.kind:
            case "s3":
                host = f"{n}.s3.amazonaws.com"
                req: dict[str, Any] = {"bucketName": n, "Host": host, "x-amz-acl": "private"}
                return self.record(
                    t, who, "s3.amazonaws.com", "CreateBucket", req, None,
                    extra=self._s3_extra(0), host=host,
                )  # fmt: skip
            case "sqs":
                return self.record(
                    t, who, "sqs.amazonaws.com", "CreateQueue",
                    {"queueName": n}, {"queueUrl": self.topo.queue_url(n)},
                )  # fmt: skip
            case "sns":
                return self.record(
                    t, who, "sns.amazonaws.com", "CreateTopic", {"name": n}, {"topicArn": arn}
                )
            case "dynamodb":
                req = {
                    "tableName": n,
                    "billingMode": "PAY_PER_REQUEST",
                    "streamSpecification": {
                        "streamEnabled": True,
                        "streamViewType": "NEW_AND_OLD_IMAGES",
                    },
                }
                resp = {
                    "tableDescription": {"tableArn": arn, "latestStreamArn": self.stream_arn(n)}
                }
                return self.record(t, who, "dynamodb.amazonaws.com", "CreateTable", req, resp)
            case "kinesis":
                return self.record(
                    t, who, "kinesis.amazonaws.com", "CreateStream",
                    {"streamName": n, "shardCount": 1}, None,
                )  # fmt: skip
            case _:
                return self.record(
                    t, who, "events.amazonaws.com", "CreateEventBus",
                    {"name": n}, {"eventBusArn": arn},
                )  # fmt: skip

    def create_state_machine(self, t: float, who: Principal, machine: StateMachine) -> Record:
        """CloudTrail hides the definition: only the name and role are in the record."""
        arn = self.topo.arn(Ref("states", machine.name))
        request = {
            "name": machine.name,
            "definition": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "roleArn": f"arn:aws:iam::{self.acct}:role/{machine.role}",
            "type": "STANDARD",
        }
        response = {"stateMachineArn": arn, "creationDate": f"{event_time(t)[:-1]}.000Z"}
        return self.record(t, who, STATES, "CreateStateMachine", request, response)

    def mapping_uuid(self, mapping: EventSourceMapping) -> str:
        """A mapping's UUID, stable (not drawn from the run's RNG) so that an inventory
        built from the model names the mapping as the simulated record does.

        Derived from the topology's name and the mapping's source and function (AWS allows
        one mapping per source and function), never from its place in the file: two
        topologies composed into one replay must not share a UUID, or one mapping would
        replace the other.
        """
        source = self.topo.arn(mapping.source)
        function = self.topo.arn(Ref("fn", mapping.function))
        return stable_uuid(f"{self.topo.name}/mapping/{source}/{function}")

    def subscription_arn(self, sub: Subscription) -> str:
        """A subscription's ARN (its trigger id), stable for the same reason."""
        topic = self.topo.arn(Ref("sns", sub.topic))
        return f"{topic}:{stable_uuid(f'{topic}/{self.topo.arn(sub.endpoint)}')}"

    def stream_arn(self, table: str) -> str:
        label = self.session_start.replace("Z", ".000")
        return f"{self.topo.arn(Ref('dynamodb', table))}/stream/{label}"

    def rule_arn(self, rule: Rule) -> str:
        """``…:rule/<name>`` on the default bus, ``…:rule/<bus>/<name>`` on any other."""
        prefix = "" if rule.bus == "default" else f"{rule.bus}/"
        return f"arn:aws:events:{self.region}:{self.acct}:rule/{prefix}{rule.name}"

    def invoke_source_arn(self, ref: Ref, function: str) -> str:
        """The ``sourceArn`` a service's Invoke of ``function`` names for a trigger on ``ref``.

        EventBridge names the rule that matched, not the bus: the first rule of the bus that
        targets the function.
        """
        target = Ref("fn", function)
        if ref.kind == "events":
            for rule in self.topo.triggers:
                if isinstance(rule, Rule) and rule.bus == ref.name and target in rule.targets:
                    return self.rule_arn(rule)
        return self.source_arn(ref)

    def source_arn(self, ref: Ref) -> str:
        """The ARN a trigger names its source by: a table's stream, otherwise the node id."""
        return self.stream_arn(ref.name) if ref.kind == "dynamodb" else self.topo.arn(ref)

    def create_function(self, t: float, who: Principal, name: str) -> Record:
        fn = self.topo.function(name)
        role_arn = f"arn:aws:iam::{self.acct}:role/{fn.role}"
        request = {
            "functionName": name,
            "runtime": "python3.12",
            "role": role_arn,
            "handler": "app.handler",
            "code": {},
            "timeout": 30,
            "memorySize": 256,
            "publish": False,
            "packageType": "Zip",
        }
        response = {
            "functionName": name,
            "functionArn": self.topo.arn(Ref("fn", name)),
            "runtime": "python3.12",
            "role": role_arn,
            "handler": "app.handler",
            "codeSize": 1843,
            "version": "$LATEST",
            "tracingConfig": {"mode": "PassThrough"},
            "revisionId": self.ids.uuid4(),
            "state": "Pending",
            "packageType": "Zip",
            "architectures": ["x86_64"],
        }
        return self.record(
            t, who, "lambda.amazonaws.com", "CreateFunction20150331", request, response
        )

    def put_bucket_notification(
        self, t: float, who: Principal, bucket: str, notes: list[S3Notification]
    ) -> Record:
        """One PutBucketNotification carrying every notification of ``bucket``.

        Like CloudTrail's XML-to-JSON rendering, a single element is an object and several
        are a list (configurations, events, filter rules alike).
        """
        groups: dict[str, list[dict[str, Any]]] = {}
        for i, note in enumerate(notes):
            key, field = {
                "fn": ("CloudFunctionConfiguration", "CloudFunction"),
                "sqs": ("QueueConfiguration", "Queue"),
                "sns": ("TopicConfiguration", "Topic"),
            }[note.target.kind]
            conf: dict[str, Any] = {
                "Id": f"{bucket}-{note.target.kind}-{note.target.name}-{i}",
                field: self.topo.arn(note.target),
                "Event": _one_or_many(list(note.events)),
            }
            rules = [{"Name": "Prefix", "Value": note.prefix}] if note.prefix else []
            rules += [{"Name": "Suffix", "Value": note.suffix}] if note.suffix else []
            if rules:
                conf["Filter"] = {"S3Key": {"FilterRule": _one_or_many(rules)}}
            groups.setdefault(key, []).append(conf)
        config: dict[str, Any] = {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}
        config.update({k: _one_or_many(v) for k, v in groups.items()})
        host = f"{bucket}.s3.amazonaws.com"
        request = {
            "bucketName": bucket,
            "Host": host,
            "notification": "",
            "NotificationConfiguration": config,
        }
        return self.record(
            t, who, "s3.amazonaws.com", "PutBucketNotification", request, None,
            extra=self._s3_extra(0), host=host,
        )  # fmt: skip

    def create_event_source_mapping(
        self, t: float, who: Principal, m: EventSourceMapping
    ) -> Record:
        source = self.source_arn(m.source)
        request: dict[str, Any] = {
            "eventSourceArn": source,
            "functionName": m.function,
            "enabled": m.enabled,
            "batchSize": 1,
        }
        if m.source.kind != "sqs":
            request["startingPosition"] = "LATEST"
        response = {
            "uUID": self.mapping_uuid(m),
            "batchSize": 1,
            "eventSourceArn": source,
            "functionArn": self.topo.arn(Ref("fn", m.function)),
            "lastModified": "Oct 5, 2026, 2:00:00 PM",
            "state": "Creating" if m.enabled else "Disabled",
            "stateTransitionReason": "USER_INITIATED",
        }
        return self.record(
            t, who, "lambda.amazonaws.com", "CreateEventSourceMapping20150331", request, response
        )

    def subscribe(self, t: float, who: Principal, sub: Subscription) -> Record:
        topic = self.topo.arn(Ref("sns", sub.topic))
        request = {
            "topicArn": topic,
            "protocol": "lambda" if sub.endpoint.kind == "fn" else "sqs",
            "endpoint": self.topo.arn(sub.endpoint),
            "returnSubscriptionArn": True,
        }
        self.ids.uuid4()  # the draw that once made the ARN: the same seed, the same logs
        response = {"subscriptionArn": self.subscription_arn(sub)}
        return self.record(t, who, "sns.amazonaws.com", "Subscribe", request, response)

    def put_rule(self, t: float, who: Principal, rule: Rule) -> Record:
        request = {
            "name": rule.name,
            "eventPattern": EVENT_PATTERN,
            "state": "ENABLED",
            "eventBusName": rule.bus,
        }
        arn = self.rule_arn(rule)
        return self.record(t, who, "events.amazonaws.com", "PutRule", request, {"ruleArn": arn})

    def put_targets(self, t: float, who: Principal, rule: Rule) -> Record:
        targets = [{"id": f"{x.kind}-{x.name}", "arn": self.topo.arn(x)} for x in rule.targets]
        request = {"rule": rule.name, "eventBusName": rule.bus, "targets": targets}
        response = {"failedEntryCount": 0, "failedEntries": []}
        return self.record(t, who, "events.amazonaws.com", "PutTargets", request, response)

    def put_function_event_invoke_config(
        self, t: float, who: Principal, function: str, dests: list[Destination]
    ) -> Record:
        config: dict[str, Any] = {"onSuccess": {}, "onFailure": {}}
        for d in dests:
            config["onSuccess" if d.on == "success" else "onFailure"] = {
                "destination": self.topo.arn(d.destination)
            }
        request = {"functionName": function, "destinationConfig": config}
        response = {
            "functionArn": f"{self.topo.arn(Ref('fn', function))}:$LATEST",
            "destinationConfig": config,
            "maximumRetryAttempts": 0,
        }
        return self.record(
            t, who, "lambda.amazonaws.com", "PutFunctionEventInvokeConfig", request, response
        )


def _one_or_many(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items
