"""The official `openai` Python SDK's Responses API (`client.responses`) against the real
`cursor-bridge serve` binary and the fake Cursor (`fake-cursor sdk`). Run by
scripts/test.sh in a venv:

    CB_BIN=target/debug/cursor-bridge FAKE_BIN=target/debug/fake-cursor \
        python -m unittest test_openai_responses

`responses.stream()` checks the event order and the item ids strictly (an item's events
before its `output_item.added`, an id that changes, a missing `response.completed` are
errors), so passing it is the check of the wire. The tests run in order on one fake:
its first turn answers with reasoning, its second calls `get_weather`.
"""

import json
import unittest

import openai

import test_openai_sdk
from test_openai_sdk import Bridge

# The chat test's function, in the Responses shape (flat, not under `function`).
TOOLS = [{**t["function"], "type": "function", "strict": False} for t in test_openai_sdk.TOOLS]


class OpenAIResponsesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bridge = Bridge("sdk")
        cls.addClassCleanup(cls.bridge.close)

    def test_1_stream_text_with_reasoning_and_usage(self):
        client = self.bridge.client()
        with client.responses.stream(model="auto", input="hi", instructions="be brief") as stream:
            types = [event.type for event in stream]
            final = stream.get_final_response()
        self.assertEqual(types[:2], ["response.created", "response.in_progress"])
        self.assertEqual(types[-1], "response.completed")
        self.assertIn("response.reasoning_summary_text.delta", types)
        self.assertLess(
            types.index("response.reasoning_summary_text.done"),
            types.index("response.output_text.delta"),
        )
        self.assertEqual(final.status, "completed")
        self.assertTrue(final.id.startswith("resp_"))
        self.assertEqual(final.output_text, "Hello from Cursor.")
        reasoning = [o for o in final.output if o.type == "reasoning"]
        self.assertEqual(reasoning[0].summary[0].text, "The user greets me.")
        # Cursor's count at turn end: input 6 + cache read 30, output 4 with 2 reasoning.
        self.assertEqual(final.usage.input_tokens, 36)
        self.assertEqual(final.usage.input_tokens_details.cached_tokens, 30)
        self.assertEqual(final.usage.output_tokens, 4)
        self.assertEqual(final.usage.output_tokens_details.reasoning_tokens, 2)

    def test_2_function_round_trip_on_the_same_stream(self):
        client = self.bridge.client()
        items = [{"role": "user", "content": "weather in Paris?"}]
        with client.responses.stream(model="auto", input=items, tools=TOOLS) as stream:
            for _ in stream:
                pass
            first = stream.get_final_response()
        self.assertEqual(first.status, "completed")
        calls = [o for o in first.output if o.type == "function_call"]
        self.assertEqual(len(calls), 1, first.output)
        call = calls[0]
        # The proxy mints the call id it hands out (call_ + 128 random bits), never Cursor's.
        self.assertRegex(call.call_id, r"^call_[0-9a-f]{32}$")
        self.assertEqual(call.name, "get_weather")
        self.assertTrue(call.id.startswith("fc_"))
        self.assertEqual(json.loads(call.arguments), {"city": "Paris"})
        # By previous_response_id: only the output goes back.
        second = client.responses.create(
            model="auto",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22C, sunny"}],
            tools=TOOLS,
        )
        self.assertEqual(second.status, "completed")
        # Only the parked run knows this answer: a fresh run would play the fake's next
        # turn, the default reply.
        self.assertEqual(second.output_text, "It is sunny in Paris.")
        self.assertEqual(second.previous_response_id, first.id)

    def test_3_create_returns_the_response_object(self):
        r = self.bridge.client().responses.create(model="auto", input="hello again")
        self.assertEqual((r.object, r.status, r.model), ("response", "completed", "auto"))
        self.assertEqual(r.output_text, "Hello from the fake Cursor.")
        self.assertEqual(r.output[0].role, "assistant")
        self.assertEqual(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens)

    def test_4_errors_are_sdk_exceptions(self):
        with self.assertRaises(openai.AuthenticationError):
            self.bridge.client(key="cb-wrong").responses.create(model="auto", input="x")
        with self.assertRaises(openai.NotFoundError) as e:
            self.bridge.client().responses.create(
                model="auto", input="x", previous_response_id="resp_unknown"
            )
        self.assertEqual(e.exception.code, "previous_response_not_found")
        with self.assertRaises(openai.BadRequestError) as e:
            self.bridge.client().responses.create(
                model="auto", input=[{"role": "narrator", "content": "x"}]
            )
        self.assertIn("input[0].role", str(e.exception))


if __name__ == "__main__":
    unittest.main()
