"""The official `openai` Python SDK against the real `cursor-bridge serve` binary, which
talks to the fake Cursor server (`fake-cursor sdk`). Run by scripts/test.sh in a venv:

    CB_BIN=target/debug/cursor-bridge FAKE_BIN=target/debug/fake-cursor python -m unittest

Each test class starts its own fake + proxy on free ports with a throw-away home.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import openai

KEY = "cb-python-sdk-test-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bridge:
    """A fake Cursor and a `cursor-bridge serve` in front of it."""

    def __init__(self, scenario):
        self.home = tempfile.TemporaryDirectory()
        self.fake = subprocess.Popen(
            [os.environ["FAKE_BIN"], scenario],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(self.fake.stdout.readline())
        self.port = free_port()
        env = dict(
            os.environ,
            CURSOR_BRIDGE_HOME=self.home.name,
            CURSOR_BRIDGE_API_URL=info["url"],
            CURSOR_BRIDGE_LOGIN_URL=info["url"],
            CURSOR_ACCESS_TOKEN=info["access_token"],
            CURSOR_BRIDGE_API_KEY=KEY,
        )
        self.proxy = subprocess.Popen(
            [os.environ["CB_BIN"], "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proxy.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"serve did not start: {line!r}")
        self.base = f"http://127.0.0.1:{self.port}/v1"

    def client(self, key=KEY):
        return openai.OpenAI(base_url=self.base, api_key=key, max_retries=0, timeout=20)

    def fake_report(self):
        """Stops the fake and returns what it saw (its second JSON line: runs and execs)."""
        self.fake.stdin.close()
        return json.loads(self.fake.stdout.read().splitlines()[-1])

    def close(self):
        self.proxy.terminate()
        self.proxy.wait(timeout=10)
        if not self.fake.stdin.closed:
            self.fake.stdin.close()
        self.fake.wait(timeout=10)
        self.home.cleanup()


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


class OpenAISdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bridge = Bridge("sdk")

    @classmethod
    def tearDownClass(cls):
        cls.bridge.close()

    def test_1_streamed_text_reasoning_and_usage(self):
        stream = self.bridge.client().chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, reasoning, usage, finish = "", "", None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for c in chunk.choices:
                text += c.delta.content or ""
                reasoning += getattr(c.delta, "reasoning_content", None) or ""
                finish = c.finish_reason or finish
        self.assertEqual(text, "Hello from Cursor.")
        self.assertEqual(reasoning, "The user greets me.")
        self.assertEqual(finish, "stop")
        # Cursor's count at turn end: prompt = input 6 + cache read 30.
        self.assertEqual(usage.completion_tokens, 4)
        self.assertEqual(usage.prompt_tokens, 36)
        self.assertEqual(usage.prompt_tokens_details.cached_tokens, 30)
        self.assertEqual(usage.completion_tokens_details.reasoning_tokens, 2)

    def test_2_tool_loop_on_the_same_stream(self):
        client = self.bridge.client()
        messages = [{"role": "user", "content": "weather in Paris?"}]
        first = client.chat.completions.create(model="auto", messages=messages, tools=TOOLS)
        choice = first.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        call = choice.message.tool_calls[0]
        # The proxy mints the id it hands out (call_ + 128 random bits), never Cursor's.
        self.assertRegex(call.id, r"^call_[0-9a-f]{32}$")
        self.assertNotEqual(call.id, "call_sdk_1")
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), {"city": "Paris"})
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "22C, sunny"})
        second = client.chat.completions.create(model="auto", messages=messages, tools=TOOLS)
        self.assertEqual(second.choices[0].message.content, "It is sunny in Paris.")
        self.assertEqual(second.choices[0].finish_reason, "stop")

    def test_3_models_list_with_limits(self):
        models = self.bridge.client().models.list()
        ids = [m.id for m in models.data]
        self.assertIn("auto", ids)
        for m in models.data:
            self.assertGreater(m.model_extra["context_length"], 0)

    def test_4_errors_are_sdk_exceptions(self):
        with self.assertRaises(openai.AuthenticationError):
            self.bridge.client(key="cb-wrong").models.list()
        with self.assertRaises(openai.NotFoundError) as e:
            self.bridge.client().chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "x"}]
            )
        self.assertEqual(e.exception.code, "model_not_found")
        with self.assertRaises(openai.BadRequestError) as e:
            self.bridge.client().chat.completions.create(
                model="auto", messages=[{"role": "narrator", "content": "x"}]
            )
        self.assertIn("messages[0].role", str(e.exception))

    def test_5_health_is_open(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.bridge.port}/health") as r:
            body = json.load(r)
        self.assertEqual(body["status"], "ok")
        self.assertTrue(body["signed_in"])


if __name__ == "__main__":
    unittest.main()
