"""The official `anthropic` Python SDK against the real `cursor-bridge serve` binary, which
talks to the fake Cursor server (`fake-cursor sdk`: a text turn with reasoning, then a
turn that calls `get_weather` and answers after the result). Run by scripts/test.sh in a
venv, next to test_openai_sdk (whose `Bridge` it shares):

    CB_BIN=target/debug/cursor-bridge FAKE_BIN=target/debug/fake-cursor \
        python -m unittest test_anthropic_sdk

The SDK sends `x-api-key` for `api_key` and `Authorization: Bearer` for `auth_token`; both
are used. Tests run in name order: the fake plays its turns in order, and the last test
stops it to read what it saw.
"""

import unittest

import anthropic

from test_openai_sdk import KEY, Bridge

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class AnthropicSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bridge = Bridge("sdk")
        cls.base = cls.bridge.base.removesuffix("/v1")

    @classmethod
    def tearDownClass(cls):
        cls.bridge.close()

    def client(self, **auth):
        auth = auth or {"api_key": KEY}
        return anthropic.Anthropic(base_url=self.base, max_retries=0, timeout=20, **auth)

    def test_1_streamed_text_thinking_and_usage(self):
        with self.client(auth_token=KEY).messages.stream(
            model="claude-sonnet-5",
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:
            text = "".join(stream.text_stream)
            message = stream.get_final_message()
        self.assertEqual(text, "Hello from Cursor.")
        self.assertEqual([b.type for b in message.content], ["thinking", "text"])
        self.assertEqual(message.content[0].thinking, "The user greets me.")
        self.assertEqual(message.stop_reason, "end_turn")
        self.assertTrue(message.id.startswith("msg_"))
        # Cursor's count at turn end: 6 input tokens besides the 30 read from the cache.
        self.assertEqual(message.usage.input_tokens, 6)
        self.assertEqual(message.usage.cache_read_input_tokens, 30)
        self.assertEqual(message.usage.output_tokens, 4)

    def test_2_tool_round_trip_on_the_same_stream(self):
        client = self.client()
        messages = [{"role": "user", "content": "weather in Paris?"}]
        with client.messages.stream(
            model="claude-sonnet-5", max_tokens=1024, tools=[WEATHER], messages=messages
        ) as stream:
            first = stream.get_final_message()
        self.assertEqual(first.stop_reason, "tool_use")
        use = [b for b in first.content if b.type == "tool_use"][0]
        # The proxy mints the id it hands out (call_ + 128 random bits), never Cursor's; the
        # fake still receives the result under its own id (test_5).
        self.assertRegex(use.id, r"^call_[0-9a-f]{32}$")
        self.assertEqual((use.name, use.input), ("get_weather", {"city": "Paris"}))
        messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "22C, sunny"}],
            }
        )
        second = client.messages.create(
            model="claude-sonnet-5", max_tokens=1024, tools=[WEATHER], messages=messages
        )
        self.assertEqual(second.stop_reason, "end_turn")
        self.assertEqual(second.content[-1].text, "It is sunny in Paris.")

    def test_3_count_tokens_is_an_estimate(self):
        counted = self.client().messages.count_tokens(
            model="claude-sonnet-5",
            messages=[{"role": "user", "content": "x" * 400}],
            tools=[WEATHER],
        )
        self.assertGreater(counted.input_tokens, 100)
        self.assertLess(counted.input_tokens, 400)

    def test_4_errors_are_sdk_exceptions(self):
        with self.assertRaises(anthropic.AuthenticationError):
            self.client(api_key="cb-wrong").messages.count_tokens(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
        with self.assertRaises(anthropic.BadRequestError) as e:
            self.client().messages.create(
                model="claude-sonnet-5", max_tokens=0, messages=[{"role": "user", "content": "x"}]
            )
        self.assertIn("max_tokens", str(e.exception))
        models = self.client().models.list()
        self.assertIn("auto", [m.id for m in models.data])

    def test_5_the_fake_saw_the_tool_result_on_the_tool_calls_run(self):
        runs = self.bridge.fake_report()["runs"]
        self.assertEqual(len(runs), 2, runs)
        self.assertEqual(runs[1]["mcp_results"], [["call_sdk_1", "22C, sunny"]], runs)
        self.assertEqual(runs[1]["end"], "Ok")


if __name__ == "__main__":
    unittest.main()
