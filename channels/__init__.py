"""Push channels to people: WeCom, DingTalk and Feishu group robots, SMS (behind a port) and Web Push.

Each channel module knows one provider's request shape, signature, limits and error codes, and nothing
else: who gets what, the rate limiter, digests, retries and the delivery ledger live in
`channels/delivery.py`; texts come from `domain/messages.py`. See docs/operations.md#push-channels.
"""

from channels.base import CHANNELS, Channel, DeliveryError, Outgoing, Sent, channel

__all__ = ["CHANNELS", "Channel", "DeliveryError", "Outgoing", "Sent", "channel"]
