"""Reading one account's trigger configuration in one region, through boto3.

    lambda   ListFunctions → ListFunctionEventInvokeConfigs (per function); ListEventSourceMappings
    s3       ListBuckets (of this region) → GetBucketNotificationConfiguration (per bucket)
    sns      ListSubscriptions → GetSubscriptionAttributes (per lambda/sqs subscription)
    events   ListEventBuses → ListRules (per bus) → ListTargetsByRule (per rule)
    states   ListStateMachines → DescribeStateMachine (per state machine)

Every listing follows its pages. Each call AWS refuses becomes a ``Refusal`` and the read goes
on without what it would have given; only an endpoint that cannot be reached at all stops
the region (every further call would wait for the same timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, TypedDict, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from loopwatch.inventory.asl import DefinitionError, invoked_functions
from loopwatch.inventory.snapshot import (
    BucketNotifications,
    Bus,
    Destination,
    Function,
    Mapping,
    Notification,
    Refusal,
    RegionInventory,
    Rule,
    StateMachine,
    Subscription,
    Target,
)
from loopwatch.roles import DENIED_CODES, error_code, error_message

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import ListEventBusesRequestTypeDef, RuleTypeDef
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        LambdaFunctionConfigurationOutputTypeDef,
        QueueConfigurationOutputTypeDef,
        TopicConfigurationOutputTypeDef,
    )
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

T = TypeVar("T")

# The errors of an endpoint that does not answer at all (nothing to retry call by call).
UNREACHABLE = (EndpointUnreachable, ConnectionClosedError, ReadTimeoutError)
_MAPPING_OFF = frozenset({"Disabled", "Disabling", "Deleting"})
_SUBSCRIBED = frozenset({"lambda", "sqs"})  # the protocols that stay inside AWS's graph


class _Pages(TypedDict, total=False):
    """botocore's PaginationConfig: each service's stubs declare this same TypedDict."""

    MaxItems: int
    PageSize: int
    StartingToken: str


class _Unreachable(Exception):
    """The region's endpoint does not answer: stop reading the region."""


class RegionReader:
    """Reads ``account``'s configuration in ``region`` with ``session``'s credentials.

    ``read()`` returns what AWS showed; ``refused`` then lists what it did not. ``page_size``
    asks for smaller pages where the API takes a page size (None: AWS's default); S3's
    ListBuckets is never given one, because a page size there is also a limit for callers
    that do not follow its continuation token.
    """

    def __init__(
        self,
        session: boto3.Session,
        account: str,
        region: str,
        *,
        endpoint_url: str | None = None,
        config: Config | None = None,
        page_size: int | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.refused: list[Refusal] = []
        self._session = session
        self._endpoint_url = endpoint_url
        self._config = config
        self._pages: _Pages = {"PageSize": page_size} if page_size else {}
        self._page_size = page_size

    def read(self) -> RegionInventory:
        inventory = RegionInventory(self.account, self.region)
        try:
            # One step at a time, so that what was read before an unreachable endpoint stays.
            inventory = replace(inventory, functions=self._functions())
            inventory = replace(inventory, mappings=self._mappings())
            inventory = replace(inventory, destinations=self._destinations(inventory.functions))
            inventory = replace(inventory, buckets=self._buckets())
            inventory = replace(inventory, subscriptions=self._subscriptions())
            inventory = replace(inventory, buses=self._buses())
            inventory = replace(inventory, rules=self._rules(inventory.buses))
            inventory = replace(inventory, state_machines=self._state_machines())
        except _Unreachable:
            pass  # named in refused
        return inventory

    # -- clients, made once per reader -----------------------------------------------------

    @cached_property
    def _lambda(self) -> LambdaClient:
        return self._session.client(
            "lambda", region_name=self.region, endpoint_url=self._endpoint_url, config=self._config
        )

    @cached_property
    def _s3(self) -> S3Client:
        return self._session.client(
            "s3", region_name=self.region, endpoint_url=self._endpoint_url, config=self._config
        )

    @cached_property
    def _sns(self) -> SNSClient:
        return self._session.client(
            "sns", region_name=self.region, endpoint_url=self._endpoint_url, config=self._config
        )

    @cached_property
    def _events(self) -> EventBridgeClient:
        return self._session.client(
            "events", region_name=self.region, endpoint_url=self._endpoint_url, config=self._config
        )

    @cached_property
    def _states(self) -> SFNClient:
        return self._session.client(
            "stepfunctions",
            region_name=self.region,
            endpoint_url=self._endpoint_url,
            config=self._config,
        )

    # -- lambda ----------------------------------------------------------------------------

    def _functions(self) -> tuple[Function, ...]:
        client = self._lambda

        def listing() -> list[Function]:
            found: list[Function] = []
            for page in client.get_paginator("list_functions").paginate(
                PaginationConfig=self._pages
            ):
                found.extend(Function(f["FunctionArn"], f.get("Role")) for f in page["Functions"])
            return found

        return tuple(self._attempt("lambda", "ListFunctions", listing) or ())

    def _mappings(self) -> tuple[Mapping, ...]:
        client = self._lambda

        def listing() -> list[Mapping]:
            found: list[Mapping] = []
            for page in client.get_paginator("list_event_source_mappings").paginate(
                PaginationConfig=self._pages
            ):
                for m in page["EventSourceMappings"]:
                    filters = m.get("FilterCriteria", {}).get("Filters", [])
                    found.append(
                        Mapping(
                            uuid=m["UUID"],
                            source=m.get("EventSourceArn"),
                            function=m["FunctionArn"],
                            enabled=m.get("State", "Enabled") not in _MAPPING_OFF,
                            filter=tuple(p for f in filters if (p := f.get("Pattern"))),
                        )
                    )
            return found

        return tuple(self._attempt("lambda", "ListEventSourceMappings", listing) or ())

    def _destinations(self, functions: tuple[Function, ...]) -> tuple[Destination, ...]:
        client = self._lambda
        found: list[Destination] = []
        for function in functions:

            def listing(arn: str = function.arn) -> list[Destination]:
                configs: list[Destination] = []
                for page in client.get_paginator("list_function_event_invoke_configs").paginate(
                    FunctionName=arn, PaginationConfig=self._pages
                ):
                    for c in page["FunctionEventInvokeConfigs"]:
                        config = c.get("DestinationConfig", {})
                        success = config.get("OnSuccess", {}).get("Destination")
                        failure = config.get("OnFailure", {}).get("Destination")
                        if success or failure:
                            configs.append(Destination(c.get("FunctionArn", arn), success, failure))
                return configs

            call = "ListFunctionEventInvokeConfigs"
            found.extend(self._attempt("lambda", call, listing, function.arn) or ())
        return tuple(found)

    # -- s3 --------------------------------------------------------------------------------

    def _buckets(self) -> tuple[BucketNotifications, ...]:
        client = self._s3

        def listing() -> list[str]:
            # ListBuckets is global; BucketRegion keeps each bucket to the region it lives in,
            # whose endpoint also answers for its notification configuration.
            return [
                bucket["Name"]
                for page in client.get_paginator("list_buckets").paginate(BucketRegion=self.region)
                for bucket in page.get("Buckets", [])
            ]

        found: list[BucketNotifications] = []
        for name in self._attempt("s3", "ListBuckets", listing) or ():
            answer = self._attempt(
                "s3",
                "GetBucketNotificationConfiguration",
                partial(client.get_bucket_notification_configuration, Bucket=name),
                name,
            )
            if answer is None:
                continue  # refused: unknown, which is not the same as "no notifications"
            found.append(
                BucketNotifications(
                    bucket=name,
                    account=self.account,
                    lambda_functions=tuple(
                        _notification(c, c["LambdaFunctionArn"])
                        for c in answer.get("LambdaFunctionConfigurations", [])
                    ),
                    queues=tuple(
                        _notification(c, c["QueueArn"])
                        for c in answer.get("QueueConfigurations", [])
                    ),
                    topics=tuple(
                        _notification(c, c["TopicArn"])
                        for c in answer.get("TopicConfigurations", [])
                    ),
                    eventbridge="EventBridgeConfiguration" in answer,
                )
            )
        return tuple(found)

    # -- sns -------------------------------------------------------------------------------

    def _subscriptions(self) -> tuple[Subscription, ...]:
        client = self._sns

        def listing() -> list[Subscription]:
            return [
                Subscription(
                    arn=s.get("SubscriptionArn", ""),
                    topic=s.get("TopicArn", ""),
                    protocol=s.get("Protocol", ""),
                    endpoint=s.get("Endpoint", ""),
                )
                for page in client.get_paginator("list_subscriptions").paginate()
                for s in page["Subscriptions"]
            ]

        found = self._attempt("sns", "ListSubscriptions", listing) or []
        result: list[Subscription] = []
        lookups = True
        for subscription in found:
            # The filter policy costs one call per subscription: only for those that become
            # edges, and not again once AWS has said no.
            if lookups and subscription.protocol in _SUBSCRIBED and subscription.arn[:4] == "arn:":
                attributes = self._attempt(
                    "sns",
                    "GetSubscriptionAttributes",
                    partial(client.get_subscription_attributes, SubscriptionArn=subscription.arn),
                    subscription.arn,
                )
                if attributes is None:
                    lookups = not self._denied_last()
                else:
                    policy = attributes.get("Attributes", {}).get("FilterPolicy") or None
                    subscription = Subscription(
                        subscription.arn,
                        subscription.topic,
                        subscription.protocol,
                        subscription.endpoint,
                        policy,
                    )
            result.append(subscription)
        return tuple(result)

    # -- events ----------------------------------------------------------------------------

    def _buses(self) -> tuple[Bus, ...]:
        client = self._events

        def listing() -> list[Bus]:
            # ListEventBuses has no boto3 paginator: its NextToken is followed by hand.
            found: list[Bus] = []
            request: ListEventBusesRequestTypeDef = {}
            if self._page_size:
                request["Limit"] = self._page_size
            while True:
                page = client.list_event_buses(**request)
                found.extend(Bus(b["Name"], b["Arn"]) for b in page.get("EventBuses", []))
                token = page.get("NextToken")
                if not token or token == request.get("NextToken"):  # a repeat would never end
                    return found
                request["NextToken"] = token

        return tuple(self._attempt("events", "ListEventBuses", listing) or ())

    def _rules(self, buses: tuple[Bus, ...]) -> tuple[Rule, ...]:
        client = self._events
        found: list[Rule] = []
        for bus in buses:

            def rules(name: str = bus.name) -> list[RuleTypeDef]:
                return [
                    rule
                    for page in client.get_paginator("list_rules").paginate(
                        EventBusName=name, PaginationConfig=self._pages
                    )
                    for rule in page.get("Rules", [])
                ]

            for rule in self._attempt("events", "ListRules", rules, bus.arn) or ():
                name = rule.get("Name", "")

                def targets(rule_name: str = name, bus_name: str = bus.name) -> list[Target]:
                    return [
                        Target(t["Id"], t["Arn"])
                        for page in client.get_paginator("list_targets_by_rule").paginate(
                            Rule=rule_name, EventBusName=bus_name, PaginationConfig=self._pages
                        )
                        for t in page.get("Targets", [])
                    ]

                listed = self._attempt("events", "ListTargetsByRule", targets, rule.get("Arn"))
                found.append(
                    Rule(
                        bus=bus.arn,
                        name=name,
                        state=rule.get("State", "ENABLED"),
                        pattern=rule.get("EventPattern"),
                        schedule=rule.get("ScheduleExpression"),
                        targets=tuple(listed or ()),
                    )
                )
        return tuple(found)

    # -- states ----------------------------------------------------------------------------

    def _state_machines(self) -> tuple[StateMachine, ...]:
        client = self._states

        def listing() -> list[str]:
            return [
                machine["stateMachineArn"]
                for page in client.get_paginator("list_state_machines").paginate(
                    PaginationConfig=self._pages
                )
                for machine in page["stateMachines"]
            ]

        found: list[StateMachine] = []
        for arn in self._attempt("states", "ListStateMachines", listing) or ():
            answer = self._attempt(
                "states",
                "DescribeStateMachine",
                partial(client.describe_state_machine, stateMachineArn=arn),
                arn,
            )
            if answer is None:
                continue
            try:
                functions = invoked_functions(answer["definition"], self.account, self.region)
            except DefinitionError as exc:
                self._refuse(
                    "states", "DescribeStateMachine", "UnreadableDefinition", str(exc), arn
                )
                continue
            found.append(StateMachine(arn, functions, answer.get("roleArn")))
        return tuple(found)

    # -- calls and refusals ----------------------------------------------------------------

    def _attempt(
        self, service: str, call: str, operation: Callable[[], T], resource: str | None = None
    ) -> T | None:
        """``operation()``, or None with the refusal recorded. Raises _Unreachable (recorded
        too) when the endpoint does not answer."""
        try:
            return operation()
        except ClientError as exc:
            self._refuse(service, call, error_code(exc), error_message(exc), resource)
        except UNREACHABLE as exc:
            self._refuse(service, call, "ConnectionError", f"{exc} (region not read further)")
            raise _Unreachable from None
        except BotoCoreError as exc:  # no credentials, a parameter this botocore lacks…
            self._refuse(service, call, type(exc).__name__, str(exc), resource)
        return None

    def _refuse(
        self, service: str, call: str, code: str, message: str, resource: str | None = None
    ) -> None:
        self.refused.append(
            Refusal(self.account, self.region, service, call, code, message, resource)
        )

    def _denied_last(self) -> bool:
        return bool(self.refused) and self.refused[-1].code in DENIED_CODES


def _notification(
    config: LambdaFunctionConfigurationOutputTypeDef
    | QueueConfigurationOutputTypeDef
    | TopicConfigurationOutputTypeDef,
    target: str,
) -> Notification:
    prefix = suffix = ""
    for rule in config.get("Filter", {}).get("Key", {}).get("FilterRules", []):
        name, value = str(rule.get("Name", "")).lower(), rule.get("Value", "")
        if name == "prefix":
            prefix = value
        elif name == "suffix":
            suffix = value
    return Notification(
        target=target,
        events=tuple(config.get("Events", [])),
        prefix=prefix,
        suffix=suffix,
        id=config.get("Id"),
    )
