"""Anthropic Messages: a message, or a stream's events (`message_start`, then `message_delta`).

`input_tokens` EXCLUDES the cache: all input is `input_tokens + cache_creation_input_tokens
+ cache_read_input_tokens`. `cache_creation` splits the writes into 5-minute and 1-hour ones,
priced apart. In a stream, `message_start` carries the input counts and each `message_delta`
the cumulative totals so far: the last delta wins, deltas are never summed.
"""

from __future__ import annotations

from typing import Any

from domain.model import TokenCounts
from domain.providers.port import ProviderUsage
from domain.providers.reader import (
    ROOT,
    count,
    events,
    mapping,
    model_name,
    optional_mapping,
    refuse,
    required_mapping,
    token_counts,
)

NAME = "anthropic"
_STREAM_EVENTS = ("message_start", "message_delta")


def recognises(response: Any) -> bool:
    if isinstance(response, list):
        return any(isinstance(item, dict) and item.get("type") in _STREAM_EVENTS for item in response)
    return isinstance(response, dict) and response.get("type") == "message"


def read(response: Any) -> ProviderUsage:
    if isinstance(response, list):
        return _read_stream(events(response))
    message = mapping(response, ROOT)
    usage = required_mapping(message, "usage", ROOT)
    return ProviderUsage(NAME, _counts(usage, f"{ROOT}.usage"), model_name(message, "model", ROOT))


def _read_stream(stream: list[dict[str, Any]]) -> ProviderUsage:
    starts = [index for index, event in enumerate(stream) if event.get("type") == "message_start"]
    deltas = [index for index, event in enumerate(stream) if event.get("type") == "message_delta"]
    if len(starts) != 1:
        raise refuse(f"an Anthropic stream has one message_start event, this one has {len(starts)}")
    if not deltas:
        raise refuse("this Anthropic stream has no message_delta event: it was cut short before its final usage")
    where = f"{ROOT}[{starts[0]}].message"
    message = required_mapping(stream[starts[0]], "message", f"{ROOT}[{starts[0]}]")
    opening = required_mapping(message, "usage", where)
    last = deltas[-1]
    closing = required_mapping(stream[last], "usage", f"{ROOT}[{last}]")
    count(closing, "output_tokens", f"{ROOT}[{last}].usage", required=True)
    # The delta's counts are cumulative and supersede the opening ones where it states them.
    usage = {**opening, **{key: value for key, value in closing.items() if value is not None}}
    return ProviderUsage(NAME, _counts(usage, f"{ROOT}[{last}].usage"), model_name(message, "model", where))


def _counts(usage: dict[str, Any], where: str) -> TokenCounts:
    uncached = count(usage, "input_tokens", where, required=True)
    cache_read = count(usage, "cache_read_input_tokens", where)
    cache_write = count(usage, "cache_creation_input_tokens", where)
    split = optional_mapping(usage, "cache_creation", where)
    write_5m = count(split, "ephemeral_5m_input_tokens", f"{where}.cache_creation")
    write_1h = count(split, "ephemeral_1h_input_tokens", f"{where}.cache_creation")
    if split and usage.get("cache_creation_input_tokens") is None:
        cache_write = write_5m + write_1h
    # When the split and the total disagree (Anthropic's own caching guide shows such a
    # response), the total is what was written: bill that, with at most all of it at the
    # 1-hour price.
    write_1h = min(write_1h, cache_write)
    thinking = count(
        optional_mapping(usage, "output_tokens_details", where), "thinking_tokens", f"{where}.output_tokens_details"
    )
    return token_counts(
        NAME,
        tokens_input=uncached + cache_read + cache_write,
        tokens_output=count(usage, "output_tokens", where, required=True),
        tokens_cached_input=cache_read,
        tokens_cache_write=cache_write,
        tokens_cache_write_1h=write_1h,
        tokens_reasoning=thinking,
    )
