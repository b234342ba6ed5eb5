"""Slack incoming webhooks: a readable message per incident state change.

The loop is drawn as a chain (``bucket uploads → function thumb → bucket uploads``), then its
status, the fix and what loopwatch did. Slack needs no signature: the URL is the credential.
"""

from __future__ import annotations

import orjson

from loopwatch.actions.alert import Alert, payload
from loopwatch.actions.sinks.registry import Rendered, Sink, sink

_ICON = {
    "opened": ":rotating_light:",
    "escalated": ":rotating_light:",
    "resolved": ":white_check_mark:",
}
_LIMIT = 2900  # Slack rejects a section text over 3000 characters


@sink("slack")
class SlackSink(Sink):
    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith("https://hooks.slack.com/")

    def render(self, alert: Alert, now: float) -> Rendered:
        return Rendered(orjson.dumps(slack_message(alert)), {"Content-Type": "application/json"})


def slack_message(alert: Alert) -> dict[str, object]:
    """The Slack message (``text`` for notifications, ``blocks`` for the channel)."""
    data = payload(alert)
    icon = _ICON.get(alert.state, ":warning:")
    title = f"{icon} {alert.title}"
    facts = [f"*State*\n{data['state']}"]
    if data["status"] is not None:
        facts.append(f"*Status*\n{data['status']}")
    if data["traversals"] is not None:
        facts.append(f"*Traversals*\n{data['traversals']}")
    if data["gain"] is not None:
        facts.append(f"*Loop gain*\n{data['gain']}")
    if data["rate_per_min"] is not None:
        facts.append(f"*Rate*\n{data['rate_per_min']}/min")
    if data["account"]:
        facts.append(f"*Account*\n{data['account']}")
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
    ]
    if data["chain"]:
        blocks.append(_section(f"```{data['chain']}```"))
    blocks.append({"type": "section", "fields": [_mrkdwn(x) for x in facts]})
    blocks.append(_section(f"*What happens*\n{data['explanation']}"))
    blocks.append(_section(f"*Fix*\n{data['fix']}"))
    if alert.action is not None:
        blocks.append(_section(f"*Action ({alert.action.mode})*\n{alert.action.summary}"))
    context = [f"incident `{data['incident']}`" if data["incident"] else "runaway rate"]
    if alert.loops_url:
        context.append(f"<{alert.loops_url}|open loopwatch>")
    blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(context))]})
    return {"text": title, "blocks": blocks}


def _mrkdwn(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": text[:_LIMIT]}


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": _mrkdwn(text)}
