"""Anthropic messages and stream events, built with the anthropic SDK.

Anthropic's `input_tokens` EXCLUDES cache reads and writes; all input is their sum.
"""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import extract_usage


def _message(usage: dict[str, Any], model: str = "claude-sonnet-4-5-20250929") -> Message:
    return Message.model_validate(
        {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "Paris."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
    )


# From Anthropic's prompt-caching guide: the first call writes the book into the cache.
FIRST_CALL = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 188086,
    "cache_read_input_tokens": 0,
    "output_tokens": 393,
}
# A call that reads the cache, writes to both caches and thinks.
MIXED = {
    "input_tokens": 50,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
    "output_tokens": 200,
    "output_tokens_details": {"thinking_tokens": 120},
}


def test_all_input_is_input_tokens_plus_cache_writes_plus_cache_reads() -> None:
    usage = extract_usage(_message(FIRST_CALL).model_dump(mode="json"))
    assert usage.provider == "anthropic"
    assert usage.model == "claude-sonnet-4-5-20250929"
    assert usage.counts == TokenCounts(tokens_input=21 + 188086, tokens_output=393, tokens_cache_write=188086)


def test_the_one_hour_writes_and_the_thinking_are_kept_apart() -> None:
    usage = extract_usage(_message(MIXED).model_dump(mode="json"))
    assert usage.counts == TokenCounts(
        tokens_input=4050,
        tokens_output=200,
        tokens_cached_input=1000,
        tokens_cache_write=3000,
        tokens_cache_write_1h=1000,
        tokens_reasoning=120,
    )


def _stream(*deltas: dict[str, Any], start_usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Anthropic's streaming example: message_start, one text block, then cumulative message_deltas."""
    opening = _message(
        start_usage
        or {
            "input_tokens": 25,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 0,
            "output_tokens": 1,
        }
    )
    events: list[Any] = [
        RawMessageStartEvent(type="message_start", message=opening.model_copy(update={"content": []})),
        RawContentBlockStartEvent(type="content_block_start", index=0, content_block={"type": "text", "text": ""}),
        RawContentBlockDeltaEvent(type="content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"}),
        RawContentBlockStopEvent(type="content_block_stop", index=0),
        *(
            RawMessageDeltaEvent(
                type="message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage=usage
            )
            for usage in deltas
        ),
        RawMessageStopEvent(type="message_stop"),
    ]
    return [event.model_dump(mode="json") for event in events]


def test_a_stream_takes_input_from_message_start_and_the_last_cumulative_delta_never_a_sum() -> None:
    usage = extract_usage(_stream({"output_tokens": 7}, {"output_tokens": 15}))
    assert usage.counts == TokenCounts(tokens_input=1025, tokens_output=15, tokens_cached_input=1000)
    assert usage.model == "claude-sonnet-4-5-20250929"


def test_a_delta_that_restates_input_counts_supersedes_message_start() -> None:
    usage = extract_usage(_stream({"output_tokens": 15, "input_tokens": 30, "cache_read_input_tokens": 1000}))
    assert usage.counts.tokens_input == 1030


def test_a_stream_cut_before_its_message_delta_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no message_delta") as refused:
        extract_usage(_stream()[:3])
    assert refused.value.field == "providerResponse"


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        (None, "usage is missing"),
        ({**FIRST_CALL, "input_tokens": -21}, "must not be negative"),
        ({**FIRST_CALL, "cache_read_input_tokens": "0"}, "whole number"),
        ({"input_tokens": 21}, "output_tokens is missing"),
        ({**MIXED, "output_tokens_details": {"thinking_tokens": 201}}, "only 200 output tokens"),
    ],
)
def test_a_malformed_message_is_refused(usage: dict[str, Any] | None, why: str) -> None:
    message = _message(FIRST_CALL).model_dump(mode="json")
    message["usage"] = usage
    with pytest.raises(InvalidInput, match=why):
        extract_usage(message)


def test_a_split_that_disagrees_with_the_total_bills_the_total() -> None:
    # The response in Anthropic's prompt-caching guide: its 5m/1h split (556) is not its total (248).
    docs = {
        "input_tokens": 2048,
        "cache_read_input_tokens": 1800,
        "cache_creation_input_tokens": 248,
        "output_tokens": 503,
        "cache_creation": {"ephemeral_5m_input_tokens": 456, "ephemeral_1h_input_tokens": 100},
    }
    counts = extract_usage(_message(docs).model_dump(mode="json")).counts
    assert (
        counts.tokens_input,
        counts.tokens_cached_input,
        counts.tokens_cache_write,
        counts.tokens_cache_write_1h,
        counts.tokens_output,
    ) == (4096, 1800, 248, 100, 503)
