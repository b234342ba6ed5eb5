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
    "revised": ":leftwards_arrow_with_hook:",
    "acted": ":octagonal_sign:",
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
    """The Slack message (``text`` for notifications, ``blocks`` for the channel).

    Every text that comes from input (ARNs, names, explanations, fixes, what an action did) is
    escaped for mrkdwn: a resource named ``<!channel>`` or ``<https://evil|fix>`` in a forged
    record must show as text, not ping a channel or become a link.
    """
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
        facts.append(f"*Account*\n{escape(str(data['account']))}")
    blocks: list[dict[str, object]] = [
        # plain_text is shown as it is: Slack parses no markup in it.
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
    ]
    if data["chain"]:
        blocks.append(_section(f"```{escape(str(data['chain']))}```"))
    blocks.append({"type": "section", "fields": [_mrkdwn(x) for x in facts]})
    blocks.append(_section(f"*What happens*\n{escape(str(data['explanation']))}"))
    blocks.append(_section(f"*Fix*\n{escape(str(data['fix']))}"))
    due = data["throttle_at"]
    if due is not None:
        blocks.append(_section(f"*Throttle at*\n{due}, if the verdict still holds then"))
    if alert.action is not None:
        summary = escape(alert.action.summary)
        blocks.append(_section(f"*Action ({escape(alert.action.mode)})*\n{summary}"))
    incident = data["incident"]
    context = [f"incident `{escape(str(incident))}`" if incident else "runaway rate"]
    if alert.loops_url:
        context.append(f"<{alert.loops_url}|open loopwatch>")  # from settings, not input
    blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(context))]})
    text = escape(title)
    if due is not None and alert.event is None:
        text += f" (throttle at {due} if the verdict holds)"
    return {"text": text, "blocks": blocks}


def escape(text: str) -> str:
    """``text`` as Slack mrkdwn shows it literally: ``&``, ``<`` and ``>`` as entities (the
    three characters Slack's control sequences are made of)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, never in the middle of an entity."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut


def _mrkdwn(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": _clip(text, _LIMIT)}


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": _mrkdwn(text)}
