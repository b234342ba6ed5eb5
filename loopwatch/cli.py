"""The ``loopwatch`` command: argument parsing only; the work lives in the library.

Exit status (DESIGN §7): 0 nothing reached ``--fail-on``; 1 something did; 2 bad usage or a
named source that cannot be opened at all. What a command raises is turned into one line with
its fix by ``loopwatch.errors`` (exit 2); only a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from loopwatch import __version__

if TYPE_CHECKING:
    from loopwatch.detect import Finding
    from loopwatch.inventory import Snapshot
    from loopwatch.settings import Settings

EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2

_REPLAY_HELP = """\
Replay CloudTrail logs (and loopwatch invocation events) through the loop detector, offline,
exactly as the live service would have seen them, and report every loop and runaway function.

SOURCE is a file (.json, .json.gz, .jsonl, .jsonl.gz), a folder (walked recursively, e.g. an
AWSLogs/ tree synced from the trail's bucket), - for standard input, or s3://bucket/prefix
(read with your usual AWS credentials; AWS_ENDPOINT_URL is honoured).

examples:
  loopwatch replay AWSLogs/                      # a folder of CloudTrail log files
  loopwatch replay --format json s3://trail-bucket/AWSLogs/111122223333/CloudTrail/
  zcat events.jsonl.gz | loopwatch replay -      # from a pipe
  loopwatch replay --fail-on latent logs/        # exit 1 even for loops not yet running hot
  loopwatch replay --act logs/                   # alert on the loops found (throttle: dry-run)
  loopwatch replay --format html logs/ > report.html   # a picture of each loop
  loopwatch replay --jobs 1 logs/                # one process (default: one job per core)

Detection knobs come from LOOPWATCH_* environment variables or ./.env (e.g.
LOOPWATCH_ACTIVE_AFTER=3, LOOPWATCH_WINDOW_SECONDS=300); `loopwatch config` shows them all.
Exit status: 0 nothing reached --fail-on, 1 something did, 2 bad usage (one line says why).
"""


_INVENTORY_HELP = """\
Read the trigger configuration of AWS accounts (what makes functions run, and what they
send to), so loops are known even where the CloudTrail trail began after they were set up:
functions and their roles, event source mappings, function destinations, S3 bucket
notifications, SNS subscriptions, EventBridge rules and targets, and the functions Step
Functions state machines invoke.

It only reads (docs/iam-policy.json, statement InventoryRead, lists the calls). A call AWS
refuses is named under "refused" in the snapshot and the rest is read anyway.

Credentials come from boto3's usual chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, a role);
AWS_ENDPOINT_URL is honoured. Without --account the caller's own account is read; other
accounts are reached through LOOPWATCH_THROTTLE_ROLE_TEMPLATE, the role the throttle uses
(e.g. arn:aws:iam::{account}:role/loopwatch-throttle).

examples:
  loopwatch inventory --out inventory.json                 # this account, AWS_DEFAULT_REGION
  loopwatch inventory --region us-east-1 --region eu-west-1 > inventory.json
  LOOPWATCH_THROTTLE_ROLE_TEMPLATE='arn:aws:iam::{account}:role/loopwatch-throttle' \\
    loopwatch inventory --account 111122223333 --account 444455556666 --out org.json
"""


_SHIP_HELP = """\
Send CloudTrail logs (and loopwatch invocation events) to the service's Kafka topics, batched
per account (one message holds up to 500 records). Needs LOOPWATCH_KAFKA_BROKER.

From files: SOURCE is a file, a folder, - or s3://bucket/prefix, as for replay. With --follow
it keeps looking for new files; an s3:// prefix then keeps its position in a state file
(--state), so a restart ships only what is new.

From a trail's notifications: --sqs QUEUE_URL reads the S3 event notifications of the trail's
bucket (sent by S3 to the queue, through SNS, or by EventBridge), fetches each new log file
(digests skipped), ships it, and deletes the message once Kafka acknowledged the records. A
message or file that cannot be read goes to <prefix>.deadletter with the reason. Without
--follow it stops when the queue is empty. The AWS permissions it needs: docs/ship-iam-policy.json.

It says what it does on stderr: a start line, errors as they happen, a summary every minute,
and a progress bar on a terminal. Ctrl-C (or SIGTERM) stops after the message in hand.

examples:
  loopwatch ship AWSLogs/                                   # a folder, once
  loopwatch ship --follow s3://trail-bucket/AWSLogs/111122223333/CloudTrail/
  loopwatch ship --sqs https://sqs.us-east-1.amazonaws.com/111122223333/trail-files --follow
  loopwatch ship --since 2026-10-05T14:00:00Z --until 2026-10-05T15:00:00+00:00 logs/

Exit status: 0 shipped; 1 Kafka unreachable or not acknowledging (nothing unacknowledged was
deleted); 2 bad usage, or a source or queue that cannot be opened at all.
"""

_CONFIG_HELP = """\
Print every LOOPWATCH_* setting in effect and where its value came from: the environment, the
.env file (./.env, or the file LOOPWATCH_ENV_FILE names), or the default. Secrets (webhook
URLs, HMAC keys, the web token, passwords in URLs) are masked. A bad value is named, with
what would be valid.

examples:
  loopwatch config                               # what a worker started here would use
  LOOPWATCH_ENV_FILE=prod.env loopwatch config   # what prod.env gives
  loopwatch config --markdown > docs/settings.md # the table of every setting
"""

_COMPLETION_HELP = """\
Print a completion script for the loopwatch command (commands, options, their choices and
file names), generated from its own argument parser.

examples:
  eval "$(loopwatch completion bash)"            # this bash session; add it to ~/.bashrc
  loopwatch completion zsh > "${fpath[1]}/_loopwatch"   # zsh: a folder on $fpath, then
                                                        # restart zsh (compinit)
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    from loopwatch.logs import escape_last_resort

    escape_last_resort()  # what a command logs holds names from records
    try:
        code: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (``loopwatch replay … | head``): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush does not complain again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        from loopwatch.errors import report

        usage = report(args.command, exc, sys.stderr)
        if usage is None:
            raise
        return usage
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loopwatch",
        description="Catch runaway AWS Lambda loops from CloudTrail, and explain them.",
    )
    parser.add_argument("--version", action="version", version=f"loopwatch {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")

    replay = commands.add_parser(
        "replay",
        help="find loops in CloudTrail log files, offline",
        description=_REPLAY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="file, folder, - or s3://bucket/prefix"
    )
    replay.add_argument(
        "--format",
        choices=["text", "json", "html", "dot"],
        default="text",
        help="text for people (default), json for tools, html (a page with a picture of each"
        " loop), dot (Graphviz)",
    )
    replay.add_argument(
        "--fail-on",
        choices=["active", "latent", "never"],
        default="active",
        help="exit 1 when a loop at least this serious is found (default: active)",
    )
    replay.add_argument(
        "--inventory",
        metavar="aws|FILE",
        help="the trigger configuration that predates the logs: read now from AWS (boto3's"
        " default credentials), or a snapshot written by `loopwatch inventory --out FILE`."
        " Without it, triggers known only from invocations stay unconfirmed (never active)",
    )
    replay.add_argument(
        "--region",
        action="append",
        default=[],
        help="with --inventory aws: a region to read (repeatable; default AWS_DEFAULT_REGION)",
    )
    replay.add_argument(
        "--act",
        action="store_true",
        help="send the alerts of the loops found (LOOPWATCH_ALERT_URLS); actions on stderr",
    )
    replay.add_argument(
        "--throttle",
        choices=["off", "dry-run", "enforce"],
        help="with --act: throttle mode (default dry-run; only enforce changes AWS); a loop is"
        " throttled only if its verdict held LOOPWATCH_ACT_AFTER_SECONDS of event time",
    )
    _time_range_arguments(replay, "replayed")
    replay.add_argument(
        "--jobs",
        metavar="N",
        help="processes that decode and parse files (default: one per core; 1: no worker"
        " processes). The report is the same for any N",
    )
    replay.set_defaults(run=_replay)

    simulate = commands.add_parser(
        "simulate",
        help="write realistic CloudTrail logs for a topology",
        description="Simulate a topology (a YAML file, or the name of a built-in one) and write its"
        " CloudTrail log files (gzip, AWSLogs layout) under --out.",
    )
    simulate.add_argument(
        "topology", help="path to a topology YAML, or a built-in name such as s3-self-loop"
    )
    simulate.add_argument("--out", required=True, help="folder to write the log files into")
    simulate.set_defaults(run=_simulate)

    ship = commands.add_parser(
        "ship",
        help="send CloudTrail logs and invocation events to Kafka for the service",
        description=_SHIP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ship.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="file, folder, - or s3://bucket/prefix"
    )
    ship.add_argument(
        "--sqs",
        metavar="QUEUE_URL",
        help="ship the log files that the bucket's S3 notifications on this queue announce",
    )
    ship.add_argument("--topic", help="send CloudTrail records here instead of <prefix>.cloudtrail")
    ship.add_argument(
        "--follow",
        action="store_true",
        help="keep watching the sources (or the queue) and ship new files as they land",
    )
    ship.add_argument(
        "--poll",
        type=float,
        default=5.0,
        help="seconds between looks for new files with --follow; with --sqs, how long one"
        " receive waits for messages (1-20; default 5)",
    )
    ship.add_argument(
        "--state",
        metavar="FILE",
        help="keep the position of s3:// sources here, so that the next run ships only what is"
        " new (default with --follow: <LOOPWATCH_DATA_DIR>/ship-position.json)",
    )
    _time_range_arguments(ship, "shipped")
    ship.set_defaults(run=_ship)
    init_topics = commands.add_parser(
        "init-topics",
        help="create the service's four topics with the configured partitions",
        description="Create <prefix>.cloudtrail, .invocations, .findings and .deadletter with"
        " LOOPWATCH_PARTITIONS partitions on LOOPWATCH_KAFKA_BROKER; existing topics are left as they are.",
    )
    init_topics.set_defaults(run=_init_topics)

    worker = commands.add_parser(
        "worker",
        help="run a service worker: detect loops live from the Kafka topics",
        description="Run one Faust worker: read <prefix>.cloudtrail and .invocations, publish"
        " findings to .findings and unreadable input to .deadletter, serve /health, /loops,"
        " /graph and /metrics on LOOPWATCH_WEB_HOST:LOOPWATCH_WEB_PORT. Workers with the same"
        " LOOPWATCH_APP_ID share the partitions. Needs LOOPWATCH_KAFKA_BROKER; stops on SIGTERM."
        " Findings and audit records are signed with LOOPWATCH_STATE_SECRET (enforce mode needs"
        " it) and those read back unsigned are dead-lettered; see docs/acting.md.",
    )
    worker.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    worker.set_defaults(run=_worker)

    up = commands.add_parser(
        "up",
        help="run the whole service locally; with --simulate, watch it catch a loop live",
        description="Run the service on this machine. Without LOOPWATCH_KAFKA_BROKER it starts the"
        " bundled Kafka-compatible broker (pip install 'loopwatch[broker]') on 127.0.0.1. With"
        " --simulate it ships simulated CloudTrail traffic of a topology and stops once its loops"
        " are reported. SIGTERM or Ctrl-C stops the shipper, the worker, then the broker, within"
        " seconds: exit status 0 after SIGTERM, 130 after Ctrl-C, 1 when a simulation's loops"
        " were not all caught in time.",
    )
    up.add_argument(
        "--simulate", metavar="TOPOLOGY", help="a topology YAML or built-in name, e.g. s3-self-loop"
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="with --simulate, give up after this many seconds (default 120)",
    )
    up.add_argument(
        "--web-port",
        type=_port,
        metavar="PORT",
        help="port of the web views (default LOOPWATCH_WEB_PORT, 6066); 0 picks a free one",
    )
    up.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    up.set_defaults(run=_up)

    release = commands.add_parser(
        "release",
        help="give a throttled function back its previous reserved concurrency",
        description="Restore the reserved concurrency loopwatch stored before throttling (delete it"
        " if there was none), re-enable mappings it disabled, and record it. Reads the ledger at"
        " LOOPWATCH_LEDGER_PATH (default <LOOPWATCH_DATA_DIR>/actions-ledger.json). A function"
        " whose reserved concurrency is no longer 0 was changed by hand while held and is left"
        " as it is unless --force. Exit 1 when something could not be restored.",
    )
    release.add_argument("function", nargs="?", help="function ARN, or a held function's name")
    release.add_argument("--incident", help="release every function held for this incident")
    release.add_argument(
        "--force",
        action="store_true",
        help="restore even when someone changed the reserved concurrency by hand while it was"
        " held (without it such a function is left alone, with exit 1)",
    )
    release.set_defaults(run=_release)

    actions = commands.add_parser(
        "actions",
        help="list what loopwatch changed and still holds",
        description="List the functions loopwatch throttled and has not released: incident,"
        " previous reserved concurrency, since when and by whom.",
    )
    actions.add_argument("--format", choices=["text", "json"], default="text")
    actions.set_defaults(run=_actions)

    inventory = commands.add_parser(
        "inventory",
        help="read the accounts' trigger configuration into a snapshot file",
        description=_INVENTORY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inventory.add_argument(
        "--out", metavar="FILE", help="write the snapshot here (default: JSON on stdout)"
    )
    inventory.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="R",
        help="a region to read; repeat for more (default: AWS_DEFAULT_REGION)",
    )
    inventory.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        help="an account to read; repeat for more (default: the caller's own)",
    )
    inventory.set_defaults(run=_inventory)

    demo = commands.add_parser(
        "demo",
        help="replay an example offline: a simulated loop hidden in everyday CloudTrail traffic",
    )
    demo.set_defaults(run=_demo)

    config = commands.add_parser(
        "config",
        help="print the settings in effect and where each came from",
        description=_CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config.add_argument(
        "--markdown",
        action="store_true",
        help="print the table of every setting instead (docs/settings.md is this output)",
    )
    config.set_defaults(run=_config)

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description=_COMPLETION_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(run=_completion)
    return parser


def _replay_inventory(spec: str | None, regions: list[str], settings: Settings) -> Snapshot | None:
    from loopwatch.inventory import InventoryUnavailable
    from loopwatch.inventory.obtain import obtain

    if spec is None:
        if regions:
            raise InventoryUnavailable("--region goes with --inventory aws")
        return None

    return obtain(spec, regions, role_template=settings.throttle_role_template)


def _time_range_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--since",
        metavar="TIME",
        help=f"only records with event times from TIME on are {verb} (ISO-8601 with an offset,"
        " e.g. 2026-10-05T14:00:00Z)",
    )
    parser.add_argument("--until", metavar="TIME", help=f"only records up to TIME are {verb}")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def _jobs(text: str | None) -> int | None:
    """``--jobs``: the cores this process may use when not given; None when not a count."""
    if text is None:
        import os

        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return len(cores) if cores else os.cpu_count() or 1
    return int(text) if text.isascii() and text.isdigit() and int(text) >= 1 else None


def _replay(args: argparse.Namespace) -> int:
    from loopwatch.errors import NoLogFiles
    from loopwatch.events.timerange import TimeRange
    from loopwatch.inventory import InventoryUnavailable, SnapshotError
    from loopwatch.replay import replay
    from loopwatch.settings import Settings

    if args.throttle is not None and not args.act:
        print("loopwatch replay: --throttle needs --act", file=sys.stderr)
        return EXIT_USAGE
    try:
        time_range = TimeRange.parse(args.since, args.until)
    except ValueError as exc:
        print(f"loopwatch replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    jobs = _jobs(args.jobs)
    if jobs is None:
        print(
            f"loopwatch replay: --jobs wants a whole number >= 1, not {args.jobs!r}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = Settings()
    if args.act and args.throttle == "enforce":
        import contextlib

        from loopwatch.credentials import AwsUnreachable, caller_account

        # Enforce changes AWS: bad credentials fail now, not mid-replay. An AWS that cannot be
        # reached is no credentials problem: the actions fail, and their alerts say so.
        with contextlib.suppress(AwsUnreachable):
            caller_account()
    if args.act:
        from loopwatch.actions.run import sinks_from_settings

        try:
            sinks_from_settings(settings)  # bad usage is said before any work is done
        except ValueError as exc:
            print(f"loopwatch replay --act: {exc}", file=sys.stderr)
            return EXIT_USAGE
    findings: list[Finding] = []
    try:
        inventory = _replay_inventory(args.inventory, args.region, settings)
        report = replay(
            args.sources,
            settings.detection(),
            progress=True,
            stdin=sys.stdin.buffer,
            on_finding=findings.append if args.act else None,
            inventory=inventory,
            time_range=time_range,
            jobs=jobs,
        )
    except (InventoryUnavailable, SnapshotError) as exc:
        # A named source that cannot be opened propagates: loopwatch.errors words it.
        from loopwatch.render.terminal import printable

        print(f"loopwatch replay: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if report.sources == 0 and "-" not in args.sources:
        raise NoLogFiles(args.sources)
    if args.act:
        _act(settings, findings, args.throttle or "dry-run")
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    elif args.format in ("html", "dot"):
        from loopwatch.render import render_dot, render_html

        render = render_html if args.format == "html" else render_dot
        sys.stdout.write(render(report.to_json()))
    else:
        from loopwatch.render.terminal import text_style

        style = text_style(sys.stdout)
        print(report.to_text(width=style.width, color=style.color))
    return _exit_for(report.worst(), args.fail_on)


def _act(settings: Settings, findings: list[Finding], mode: str) -> None:
    """Act on the findings and say what was done on stderr; whatever happens to the actions,
    the replay's report still follows on stdout (DESIGN §6)."""
    import asyncio

    from loopwatch.actions.offline import act_offline

    settings = settings.model_copy(update={"throttle_mode": mode})
    if not settings.alert_urls:
        print("loopwatch replay --act: no LOOPWATCH_ALERT_URLS: no alert is sent", file=sys.stderr)
    from loopwatch.render.terminal import printable

    try:
        result = asyncio.run(act_offline(findings, settings))
    except Exception as exc:  # a bug in acting must not cost the report
        reason = printable(f"{type(exc).__name__}: {exc}")
        print(f"loopwatch replay --act: actions failed: {reason}", file=sys.stderr)
        return
    for line in result.lines():  # names from records: escaped, like the report's
        print(printable(line), file=sys.stderr)


def _release(args: argparse.Namespace) -> int:
    from loopwatch.settings import Settings
    from loopwatch.undo import run_release

    if (args.function is None) == (args.incident is None):
        print("loopwatch release: name a FUNCTION or --incident ID (one of them)", file=sys.stderr)
        return EXIT_USAGE
    return run_release(
        Settings(), args.function, args.incident, sys.stdout, sys.stderr, force=args.force
    )


def _actions(args: argparse.Namespace) -> int:
    from loopwatch.settings import Settings
    from loopwatch.undo import run_actions

    return run_actions(Settings(), sys.stdout, sys.stderr, as_json=args.format == "json")


def _exit_for(worst: str | None, fail_on: str) -> int:
    if fail_on == "never" or worst is None:
        return EXIT_OK
    if fail_on == "latent" or worst == "active":
        return EXIT_FOUND
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from loopwatch.topology import TopologyError, resolve_topology, write_simulation

    try:
        topology = resolve_topology(args.topology)
    except TopologyError as exc:
        print(f"loopwatch simulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = write_simulation(topology, Path(args.out))
    print(f"wrote {result.records:,} records in {len(result.files)} files under {args.out}")
    return EXIT_OK


def _kafka_settings(command: str) -> Settings | None:
    """Settings for a command that needs Kafka; None, having said why, when no broker is set.
    Raises BrokerUnreachable when the broker does not answer."""
    from loopwatch.service.preflight import require_broker
    from loopwatch.settings import Settings

    settings = Settings()
    if not settings.kafka_broker:
        print(f"loopwatch {command}: set LOOPWATCH_KAFKA_BROKER=host:port", file=sys.stderr)
        return None
    require_broker(settings)
    return settings


def _ship(args: argparse.Namespace) -> int:
    from loopwatch.service.ship_command import run_ship
    from loopwatch.settings import Settings

    return run_ship(
        args.sources,
        Settings(),
        sys.stdout,
        sys.stderr,
        sqs=args.sqs,
        topic=args.topic,
        follow=args.follow,
        poll=args.poll,
        state=args.state,
        since=args.since,
        until=args.until,
        stdin=sys.stdin.buffer,
    )


def _init_topics(args: argparse.Namespace) -> int:
    import asyncio

    from loopwatch.service.topics import create_topics

    settings = _kafka_settings("init-topics")
    if settings is None:
        return EXIT_USAGE
    for name in asyncio.run(create_topics(settings)):
        print(f"topic {name}: {settings.partitions} partitions")
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    from loopwatch.logs import configure_logging
    from loopwatch.service.worker import run_worker
    from loopwatch.settings import Settings

    settings = Settings()
    configure_logging(args.loglevel)
    return run_worker(settings, loglevel=args.loglevel)


def _up(args: argparse.Namespace) -> int:
    from loopwatch.logs import configure_logging
    from loopwatch.service.up import run_up
    from loopwatch.settings import Settings

    settings = Settings()
    if args.web_port is not None:
        settings = settings.model_copy(update={"web_port": args.web_port})
    configure_logging(args.loglevel)
    return run_up(settings, sys.stdout, simulate=args.simulate, timeout=args.timeout)


def _inventory(args: argparse.Namespace) -> int:
    from loopwatch.inventory.command import run_inventory
    from loopwatch.settings import Settings

    return run_inventory(
        args.region,
        args.account,
        args.out,
        sys.stdout.buffer,
        sys.stderr,
        role_template=Settings().throttle_role_template,
    )


def _demo(args: argparse.Namespace) -> int:
    from loopwatch.demo import run_demo

    return run_demo(sys.stdout)


def _config(args: argparse.Namespace) -> int:
    from loopwatch.settings_doc import effective, markdown, render

    sys.stdout.write(markdown() if args.markdown else render(*effective()))
    return EXIT_OK


def _completion(args: argparse.Namespace) -> int:
    from loopwatch.completion import script

    sys.stdout.write(script(_parser(), args.shell))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
