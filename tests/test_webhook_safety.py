"""Webhooks that cannot be turned against their readers: Slack markup from input shown as text,
no plain http across the network unless asked for, unsigned webhooks said once, no empty key."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from loopwatch.actions import Actions, Dispatcher, RetryPolicy, alert_for, sink_for
from loopwatch.actions.signing import signature_header, verify_signature
from loopwatch.actions.sinks.slack import SlackSink, escape, slack_message
from loopwatch.actions.sinks.webhook import WebhookSink
from loopwatch.actions.throttle import ThrottleReport
from loopwatch.cli import main
from loopwatch.detect.findings import ACTIVE, OPENED, LoopFinding
from loopwatch.service.act import LiveActions
from loopwatch.service.worker import run_worker
from loopwatch.settings import Settings

# Names a forged record can carry: a channel ping, a disguised link, a user mention.
PING = "<!channel>"
LINK = "<https://evil.example/login|Open the runbook>"
FN = "arn:aws:lambda:us-east-1:111122223333:function:a&b<!here>"


def hostile_loop() -> LoopFinding:
    return LoopFinding(
        incident=f"inc-{PING}",
        change=OPENED,
        status=ACTIVE,
        cycle=(f"arn:aws:s3:::{PING}", FN),
        functions=(FN,),
        first_seen=1000.0,
        detected_at=1009.0,
        time=1009.0,
        traversals=3,
        gain=1.0,
        guarded=False,
        explanation=f"writes to {PING} & calls <@U024BE7LH>",
        fix=f"{LINK} > now",
    )


def test_slack_shows_markup_from_input_as_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/services/T0/B0/XYZ").respond_with_data("ok")
    slack = SlackSink(SecretStr(httpserver.url_for("/services/T0/B0/XYZ")))
    action = ThrottleReport("dry-run", f"would-throttle {FN}: dry-run <https://x|y>")
    alert = alert_for(hostile_loop(), "111122223333", action, "https://loopwatch.example/loops")

    async def go() -> None:
        async with Dispatcher([slack], RetryPolicy(deadline=5.0)) as d:
            d.enqueue(alert)
            await d.drain()

    asyncio.run(go())

    message = json.loads(httpserver.log[0][0].get_data())
    texts = [message["text"]] + [
        t["text"]
        for block in message["blocks"]
        if block["type"] != "header"  # plain_text: Slack parses nothing in it
        for t in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        if t is not None
    ]
    joined = "\n".join(texts)
    # The only control sequence left is loopwatch's own link, from its settings.
    assert re.findall(r"<[^>]*>", joined) == ["<https://loopwatch.example/loops|open loopwatch>"]
    assert "&lt;!channel&gt;" in joined and "&lt;@U024BE7LH&gt;" in joined
    assert "&lt;https://evil.example/login|Open the runbook&gt; &gt; now" in joined
    assert "a&amp;b&lt;!here&gt;" in joined  # in the chain, the action and the title
    assert "&amp;lt;" not in joined  # escaped once, not twice


def test_escaping_and_clipping_never_leave_half_an_entity() -> None:
    assert escape("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"
    loop = hostile_loop()
    long = LoopFinding(**{**_fields(loop), "explanation": "<" * 5000})
    blocks = slack_message(alert_for(long))["blocks"]
    assert isinstance(blocks, list)
    (what,) = [b for b in blocks if "What happens" in json.dumps(b)]
    text = what["text"]["text"]
    assert len(text) <= 2900 and text.endswith("&lt;")


def _fields(loop: LoopFinding) -> dict[str, object]:
    return {name: getattr(loop, name) for name in LoopFinding.__dataclass_fields__}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"]
)
def test_plain_http_to_this_machine_needs_no_opt_in(url: str) -> None:
    assert isinstance(sink_for(url), WebhookSink)


def test_plain_http_to_another_host_needs_the_opt_in() -> None:
    url = "http://alerts.example.com/hooks/secret-token"
    with pytest.raises(ValueError) as refused:
        sink_for(url)
    message = str(refused.value)
    assert "LOOPWATCH_ALERT_ALLOW_HTTP=true" in message and "alerts.example.com" in message
    assert "secret-token" not in message  # the URL's path is its credential
    assert isinstance(sink_for(url, allow_http=True), WebhookSink)
    assert isinstance(sink_for("https://alerts.example.com/hook"), WebhookSink)

    async def send(topic: str, key: bytes | None, value: bytes) -> None: ...

    allowed = Settings(alert_urls=url, alert_allow_http=True)
    assert LiveActions(allowed, send).settings is allowed  # a worker would start


def test_a_worker_and_replay_act_refuse_http_to_another_host_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://alerts.example.com/hook"
    err = io.StringIO()
    assert run_worker(Settings(kafka_broker="127.0.0.1:1", alert_urls=url), stderr=err) == 2
    (line,) = err.getvalue().splitlines()
    assert line.startswith("loopwatch worker: alert URL http://alerts.example.com/… is not")

    (tmp_path / "empty.jsonl").write_text("")
    monkeypatch.setenv("LOOPWATCH_ALERT_URLS", url)
    assert main(["replay", "--act", str(tmp_path / "empty.jsonl")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any replay work
    assert captured.err.strip().splitlines() == [
        "loopwatch replay --act: alert URL http://alerts.example.com/… is not encrypted:"
        " use https, or set LOOPWATCH_ALERT_ALLOW_HTTP=true"
    ]


def test_unsigned_generic_webhooks_are_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    two = "https://a.example/hook,https://b.example/hook,https://hooks.slack.com/services/T/B/X"

    def warnings(settings: Settings) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, "loopwatch.actions.run"):

            async def build() -> None:
                async with Actions.from_settings(settings, ledger=None):
                    pass

            asyncio.run(build())
        return [r.getMessage() for r in caplog.records if r.name == "loopwatch.actions.run"]

    (warning,) = warnings(Settings(alert_urls=two, ledger_path="/nonexistent/x"))
    assert "webhook https://a.example/…, webhook https://b.example/…" in warning
    assert "not signed" in warning and "LOOPWATCH_ALERT_SECRET" in warning
    assert "slack" not in warning  # Slack's URL is its own credential: nothing to sign
    signed = Settings(alert_urls=two, alert_secret="k", ledger_path="/nonexistent/x")
    assert warnings(signed) == []
    empty = Settings(alert_urls=two, alert_secret="", ledger_path="/nonexistent/x")
    assert len(warnings(empty)) == 1  # an empty secret signs nothing


def test_verify_signature_rejects_an_empty_key() -> None:
    body = b'{"state": "opened"}'
    forged = signature_header("", body, 1_000_000)  # what anyone can compute
    assert not verify_signature("", forged, body, now=1_000_000)
    assert verify_signature("k", signature_header("k", body, 1_000_000), body, now=1_000_000)
