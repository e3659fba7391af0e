//! The spend and runaway-loop guard as users meet it: real HTTP against the proxy in front
//! of the fake Cursor, in each dialect the proxy serves (Chat Completions, Anthropic
//! Messages, Responses), table-driven. A model that calls the same tool with the same
//! arguments after every result, forever, is stopped at exactly `guard_repeat_limit`: the
//! client got limit − 1 tool calls, then a 400 naming the rule (never a retried 429), the
//! Cursor run is cancelled (the fake saw the client go), and the ledger has the refused
//! request under the rule. Also `guard_max_tool_steps`, the per-minute and daily budgets,
//! the manual pause (403), resume, `GET /guard`, `/health`, and today's counts surviving a
//! restart (they come from the ledger).

use crate::common;

use std::time::Duration;

use common::Harness;
use common::proxy::{Proxy, fake_playing, minted};
use cursor_bridge_core::config::settings::{AgentTransport, Paths, Settings};
use cursor_bridge_tests::{McpCall, RunTransport, ToolLoop, Turn};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// The tool every request declares and the loop calls.
const TOOL: &str = "bash";

/// The call id the fake gives the loop's calls (`call_loop_<n>`).
const CALL: &str = "call_loop";

/// The arguments of the runaway call.
fn same_args() -> Value {
    json!({"command": "ls"})
}

/// The API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Chat,
    Messages,
    Responses,
}

const DIALECTS: [Dialect; 3] = [Dialect::Chat, Dialect::Messages, Dialect::Responses];

/// One tool step the client got: its call id and arguments.
type Step = (String, Value);

impl Dialect {
    /// The ledger's name of it.
    fn key(self) -> &'static str {
        match self {
            Dialect::Chat => "chat",
            Dialect::Messages => "messages",
            Dialect::Responses => "responses",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Dialect::Chat => "/v1/chat/completions",
            Dialect::Messages => "/v1/messages",
            Dialect::Responses => "/v1/responses",
        }
    }

    /// A request: the user's text, then each step's call and its result, as every client
    /// re-sends its conversation.
    fn body(self, text: &str, steps: &[Step], stream: bool) -> Value {
        let schema = json!({"type": "object", "properties": {"command": {"type": "string"}}});
        match self {
            Dialect::Chat => {
                let mut messages = vec![json!({"role": "user", "content": text})];
                for (id, args) in steps {
                    messages.push(json!({"role": "assistant", "content": null,
                        "tool_calls": [{"id": id, "type": "function",
                            "function": {"name": TOOL, "arguments": args.to_string()}}]}));
                    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "a.txt"}));
                }
                json!({"model": "auto", "stream": stream, "messages": messages,
                    "tools": [{"type": "function",
                        "function": {"name": TOOL, "parameters": schema}}]})
            }
            Dialect::Messages => {
                let mut messages = vec![json!({"role": "user", "content": text})];
                for (id, args) in steps {
                    messages.push(json!({"role": "assistant", "content": [
                        {"type": "tool_use", "id": id, "name": TOOL, "input": args}]}));
                    messages.push(json!({"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": id, "content": "a.txt"}]}));
                }
                json!({"model": "claude-opus-5-5", "max_tokens": 1024, "stream": stream,
                    "messages": messages,
                    "tools": [{"name": TOOL, "input_schema": schema}]})
            }
            Dialect::Responses => {
                let mut input = vec![json!({"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": text}]})];
                for (id, args) in steps {
                    input.push(json!({"type": "function_call", "call_id": id, "name": TOOL,
                        "arguments": args.to_string()}));
                    input.push(
                        json!({"type": "function_call_output", "call_id": id, "output": "a.txt"}),
                    );
                }
                json!({"model": "auto", "stream": stream, "input": input,
                    "tools": [{"type": "function", "name": TOOL, "parameters": schema}]})
            }
        }
    }

    async fn post(self, p: &Proxy, body: &Value) -> reqwest::Response {
        let mut req = p
            .http
            .post(format!("{}{}", p.base, self.path()))
            .bearer_auth(&p.key);
        if self == Dialect::Messages {
            req = req.header("anthropic-version", "2023-06-01");
        }
        req.json(body).send().await.expect("send")
    }

    /// The one tool call of a successful response (streamed or not), checked to be a
    /// tool-call stop in the dialect's terms.
    fn tool_call(self, r: &Reply) -> Step {
        assert_eq!(r.status, 200, "{self:?}: {}", r.text);
        if r.streamed {
            return self.streamed_call(&r.text);
        }
        let v: Value = serde_json::from_str(&r.text).expect("json");
        let (id, args) = match self {
            Dialect::Chat => {
                assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
                let f = &v["choices"][0]["message"]["tool_calls"][0];
                (&f["id"], parse(&f["function"]["arguments"]))
            }
            Dialect::Messages => {
                assert_eq!(v["stop_reason"], "tool_use", "{v}");
                let u = v["content"]
                    .as_array()
                    .and_then(|c| c.iter().find(|b| b["type"] == "tool_use"))
                    .expect("a tool_use block");
                (&u["id"], u["input"].clone())
            }
            Dialect::Responses => {
                let c = v["output"]
                    .as_array()
                    .and_then(|o| o.iter().find(|i| i["type"] == "function_call"))
                    .expect("a function_call item");
                (&c["call_id"], parse(&c["arguments"]))
            }
        };
        (id.as_str().expect("call id").to_string(), args)
    }

    /// The call of a streamed tool step, from the event that completes it.
    fn streamed_call(self, text: &str) -> Step {
        let data = sse_data(text);
        match self {
            Dialect::Chat => {
                assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
                let deltas: Vec<&Value> = data
                    .iter()
                    .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
                    .flatten()
                    .collect();
                assert!(
                    data.iter()
                        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"),
                    "{text}"
                );
                let id = deltas[0]["id"].as_str().expect("id").to_string();
                let args: String = deltas
                    .iter()
                    .filter_map(|d| d["function"]["arguments"].as_str())
                    .collect();
                (id, serde_json::from_str(&args).expect("json arguments"))
            }
            Dialect::Messages => {
                assert!(
                    data.iter().any(|d| d["delta"]["stop_reason"] == "tool_use"),
                    "{text}"
                );
                let start = data
                    .iter()
                    .find(|d| d["content_block"]["type"] == "tool_use")
                    .expect("a tool_use block");
                let args: String = data
                    .iter()
                    .filter(|d| d["delta"]["type"] == "input_json_delta")
                    .filter_map(|d| d["delta"]["partial_json"].as_str())
                    .collect();
                let id = start["content_block"]["id"].as_str().expect("id");
                (id.to_string(), serde_json::from_str(&args).expect("json"))
            }
            Dialect::Responses => {
                let item = data
                    .iter()
                    .find(|d| {
                        d["type"] == "response.output_item.done"
                            && d["item"]["type"] == "function_call"
                    })
                    .map(|d| &d["item"])
                    .expect("a function_call item");
                assert!(
                    data.iter().any(|d| d["type"] == "response.completed"),
                    "{text}"
                );
                let id = item["call_id"].as_str().expect("call id");
                (id.to_string(), parse(&item["arguments"]))
            }
        }
    }

    /// The error of a refused request in the dialect's shape, checked: `code` (Chat,
    /// Responses) or its type (Anthropic). For a stream, the last error it carried:
    /// `{"error": …}` (Chat, Anthropic) or an `error` event that is the error itself
    /// (Responses).
    fn error(self, r: &Reply, code: &str) -> Value {
        let err = if r.streamed {
            sse_data(&r.text)
                .into_iter()
                .filter_map(|d| match &d["error"] {
                    Value::Object(_) => Some(d["error"].clone()),
                    _ if d["type"] == "error" => Some(d),
                    _ => None,
                })
                .next_back()
                .unwrap_or_else(|| panic!("no error in the stream: {}", r.text))
        } else {
            let v: Value = serde_json::from_str(&r.text).expect("error json");
            if self == Dialect::Messages {
                assert_eq!(v["type"], "error", "{v}");
            }
            v["error"].clone()
        };
        let kind = if code == "guard_paused" {
            "permission_error"
        } else {
            "invalid_request_error"
        };
        if self == Dialect::Messages {
            // Anthropic's errors carry a type, no code.
            assert_eq!(err["type"], kind, "{err}");
        } else if self == Dialect::Responses && r.streamed {
            // The `error` event (its type is the event's name), after a failed response
            // carrying the same code.
            assert_eq!(
                (&err["type"], &err["code"]),
                (&json!("error"), &json!(code)),
                "{err}"
            );
            let failed = sse_data(&r.text)
                .into_iter()
                .find(|d| d["type"] == "response.failed")
                .unwrap_or_else(|| panic!("no response.failed: {}", r.text));
            assert_eq!(failed["response"]["error"]["code"], code, "{failed}");
        } else {
            assert_eq!(
                (&err["type"], &err["code"]),
                (&json!(kind), &json!(code)),
                "{err}"
            );
        }
        err
    }

    /// A request that must be refused before any output: its status and message.
    async fn refused(self, p: &Proxy, body: &Value, code: &str) -> (u16, String) {
        let r = Reply::of(self.post(p, body).await).await;
        assert!(
            !r.streamed || self == Dialect::Responses,
            "{self:?}: {}",
            r.text
        );
        let err = self.error(&r, code);
        (
            r.status,
            err["message"].as_str().expect("message").to_string(),
        )
    }
}

/// A response read to its end.
#[derive(Debug)]
struct Reply {
    status: u16,
    streamed: bool,
    text: String,
}

impl Reply {
    async fn of(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let streamed = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = res.text().await.expect("the body ends");
        Reply {
            status,
            streamed,
            text,
        }
    }

    /// Whether this is a refusal carrying `code`, rather than a tool step.
    fn refused(&self, code: &str) -> bool {
        self.status != 200 || self.text.contains(code)
    }
}

/// The JSON `data:` of each SSE event.
fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("json data"))
        .collect()
}

/// Arguments sent as a JSON string.
fn parse(v: &Value) -> Value {
    serde_json::from_str(v.as_str().expect("a string")).expect("json arguments")
}

/// A proxy in front of a fake playing `turns`, with the guard's settings tweaked.
async fn proxy(turns: Vec<Turn>, tweak: impl FnOnce(&mut Settings)) -> Proxy {
    Proxy::start_with(Harness::signed_in(fake_playing(turns).await).await, tweak).await
}

/// The runaway model: the same `bash` call after every result, forever (with `text`
/// streamed before each call).
fn runaway(text: Option<&str>, vary: bool) -> Turn {
    let mut l = ToolLoop::same(McpCall::new(TOOL, TOOL, CALL, same_args()));
    if let Some(t) = text {
        l = l.saying(t);
    }
    if vary {
        l = l.varied();
    }
    Turn::new().tool_loop(l)
}

/// The ledger's rows in order: `(status, error_kind, dialect)`.
fn ledger_rows(p: &Proxy) -> Vec<(i64, Option<String>, String)> {
    let path = Paths::resolve(&p.h.env).expect("paths").ledger_file();
    let conn = rusqlite::Connection::open(path).expect("open ledger");
    let mut q = conn
        .prepare("SELECT status, error_kind, dialect FROM requests ORDER BY id")
        .expect("query");
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Runs the client's side of a tool loop: each tool call answered with its result, until a
/// request is refused with `code` (at most `max` steps). Returns the calls it got and that
/// refusal.
async fn drive_loop(
    p: &Proxy,
    d: Dialect,
    stream: bool,
    code: &str,
    max: usize,
) -> (Vec<Step>, Reply) {
    let mut steps: Vec<Step> = Vec::new();
    loop {
        let r = Reply::of(d.post(p, &d.body("loop", &steps, stream)).await).await;
        if r.refused(code) {
            return (steps, r);
        }
        steps.push(d.tool_call(&r));
        assert!(
            steps.len() <= max,
            "{d:?}: the guard let {} steps through",
            steps.len()
        );
    }
}

/// The guard's status (`GET /guard`).
async fn status(p: &Proxy) -> Value {
    let res = p.get("/guard").await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("status json")
}

/// `POST path` on the proxy with its key, as JSON.
async fn post_guard(p: &Proxy, path: &str) -> Value {
    let res = p.post_to(path, &json!({})).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("json")
}

/// The runaway loop in dialect `d`, not streamed and streamed (the model then says
/// something before each call, so the trip comes mid-stream): stopped at exactly the
/// repeat limit, the run cancelled, the refusal in the ledger under the rule.
async fn stops_the_runaway_at_exactly_the_repeat_limit(d: Dialect) {
    let limit = Settings::default().guard_repeat_limit as usize;
    for stream in [false, true] {
        let said = "Trying once more.";
        let p = proxy(vec![runaway(stream.then_some(said), false)], |_| {}).await;
        let (steps, r) = drive_loop(&p, d, stream, "guard_repeat_limit", limit + 2).await;
        let want: Vec<String> = (1..limit).map(|n| format!("{CALL}_{n}")).collect();
        assert_eq!(
            steps.len(),
            want.len(),
            "{d:?} stream={stream}: limit − 1 tool steps, then the error"
        );
        for ((id, _), cursor_id) in steps.iter().zip(&want) {
            minted(&json!(id), cursor_id);
        }
        assert!(steps.iter().all(|(_, a)| *a == same_args()), "{steps:?}");
        if stream {
            // The stream had begun (its text went out): it ends with the error event.
            assert_eq!((r.status, r.streamed), (200, true), "{d:?}: {}", r.text);
            assert!(r.text.contains(said), "{}", r.text);
            assert!(
                !r.text.contains(&format!("{CALL}_{limit}")) && !r.text.contains("call_"),
                "the call never reaches the client: {}",
                r.text
            );
        } else {
            assert_eq!(r.status, 400, "{d:?}: a 400, not a retried 429: {}", r.text);
        }
        let err = d.error(&r, "guard_tripped");
        let msg = err["message"].as_str().expect("message");
        for part in [
            "`bash`",
            &format!("{limit} times in a row"),
            &format!("guard_repeat_limit = {limit}"),
            "cursor-bridge guard resume",
        ] {
            assert!(msg.contains(part), "{d:?}: {part:?} not in {msg:?}");
        }

        // Cursor: one run, every result but the last call's on its stream, then cancelled.
        let run = p.fake().wait_for_run_end(0, WAIT).await;
        assert_eq!(
            p.fake().run_count(),
            1,
            "{d:?}: every step continued the one run"
        );
        let heard: Vec<&String> = run.mcp_results.iter().map(|(id, _)| id).collect();
        assert_eq!(
            heard,
            want.iter().collect::<Vec<_>>(),
            "Cursor hears its own ids"
        );
        assert!(
            run.cancelled.is_some(),
            "{d:?}: the Cursor run was not cancelled: {:?}",
            run.end
        );

        let g = status(&p).await;
        let trip = &g["trips"][0];
        assert_eq!(
            (
                &trip["rule"],
                &trip["count"],
                &trip["limit"],
                &trip["refused"]
            ),
            (
                &json!("repeatLimit"),
                &json!(limit),
                &json!(limit),
                &json!(1)
            ),
            "{g}"
        );
        assert_eq!(
            p.health().await["guard"],
            json!({"enabled": true, "paused": false, "tripped": ["guard_repeat_limit"]})
        );
        let mut p = p;
        p.stop().await;
        let rows = ledger_rows(&p);
        let answered = (200, None, d.key().to_string());
        let mut want = vec![answered; limit - 1];
        want.push((400, Some("guard_repeat_limit".into()), d.key().into()));
        assert_eq!(rows, want, "{d:?} stream={stream}");
    }
}

#[tokio::test]
async fn chat_completions_stop_the_runaway_at_exactly_the_repeat_limit() {
    stops_the_runaway_at_exactly_the_repeat_limit(Dialect::Chat).await;
}

#[tokio::test]
async fn anthropic_messages_stop_the_runaway_at_exactly_the_repeat_limit() {
    stops_the_runaway_at_exactly_the_repeat_limit(Dialect::Messages).await;
}

#[tokio::test]
async fn responses_stop_the_runaway_at_exactly_the_repeat_limit() {
    stops_the_runaway_at_exactly_the_repeat_limit(Dialect::Responses).await;
}

#[tokio::test]
async fn varied_calls_are_stopped_past_max_tool_steps_in_every_dialect() {
    for d in DIALECTS {
        let mut p = proxy(vec![runaway(None, true)], |s| s.guard_max_tool_steps = 3).await;
        let (steps, r) = drive_loop(&p, d, false, "guard_max_tool_steps", 5).await;
        let args: Vec<&Value> = steps.iter().map(|(_, a)| &a["step"]).collect();
        assert_eq!(
            args,
            [&json!(1), &json!(2), &json!(3)],
            "{d:?}: each call differs"
        );
        assert_eq!(r.status, 400, "{}", r.text);
        let msg = d.error(&r, "guard_tripped")["message"].clone();
        let msg = msg.as_str().expect("message");
        assert!(
            msg.contains("4 tool steps in one turn") && msg.contains("guard_max_tool_steps = 3"),
            "{msg}"
        );
        assert!(msg.contains("cursor-bridge guard resume"), "{msg}");
        let run = p.fake().wait_for_run_end(0, WAIT).await;
        assert!(run.cancelled.is_some(), "{d:?}: {:?}", run.end);
        assert_eq!(run.mcp_results.len(), 3);
        p.stop().await;
        let last = ledger_rows(&p).pop().expect("rows");
        assert_eq!(
            last,
            (400, Some("guard_max_tool_steps".into()), d.key().into())
        );
    }
}

/// A plain request of dialect `d`.
fn hello(d: Dialect) -> Value {
    d.body("hi", &[], false)
}

/// Each dialect's request is refused under `rule` with a 400 whose message has `numbers`;
/// no run reaches Cursor for them.
async fn all_refused(p: &Proxy, rule: &str, numbers: &str) {
    let runs = p.fake().run_count();
    for d in DIALECTS {
        let (status, msg) = d.refused(p, &hello(d), "guard_tripped").await;
        assert_eq!(status, 400, "{d:?}: a 400 no SDK retries, not a 429");
        for part in [numbers, &format!("`{rule}`"), "cursor-bridge guard resume"] {
            assert!(msg.contains(part), "{d:?}: {part:?} not in {msg:?}");
        }
    }
    assert_eq!(
        p.fake().run_count(),
        runs,
        "a refused request starts no Cursor run"
    );
}

/// A request of dialect `d` that must be answered.
async fn answered(p: &Proxy, d: Dialect) {
    let res = d.post(p, &hello(d)).await;
    assert_eq!(res.status(), 200, "{d:?}: {:?}", res.text().await);
}

#[tokio::test]
async fn the_per_minute_budget_refuses_every_dialect_until_resumed() {
    let mut p = proxy(vec![], |s| s.guard_requests_per_minute = 2).await;
    answered(&p, Dialect::Chat).await;
    answered(&p, Dialect::Messages).await;
    all_refused(
        &p,
        "guard_requests_per_minute",
        "2 requests in the last minute",
    )
    .await;
    let g = status(&p).await;
    assert_eq!(
        (&g["requestsLastMinute"], &g["requestsToday"]),
        (&json!(2), &json!(2)),
        "{g}"
    );
    assert_eq!(g["trips"][0]["refused"], 3, "{g}");
    assert_eq!(
        p.health().await["guard"]["tripped"],
        json!(["guard_requests_per_minute"])
    );
    let r = post_guard(&p, "/guard/resume").await;
    assert_eq!(
        (&r["cleared"], &r["status"]["trips"]),
        (&json!(1), &json!([])),
        "{r}"
    );
    answered(&p, Dialect::Responses).await;
    assert_eq!(p.health().await["guard"]["tripped"], json!([]));
    p.stop().await;
    let kinds: Vec<Option<String>> = ledger_rows(&p).into_iter().map(|r| r.1).collect();
    let rpm = Some("guard_requests_per_minute".to_string());
    assert_eq!(kinds, [None, None, rpm.clone(), rpm.clone(), rpm, None]);
}

#[tokio::test]
async fn the_daily_request_budget_refuses_every_dialect_and_resume_allows_the_rest_of_the_day() {
    let p = proxy(vec![], |s| s.guard_daily_requests = 3).await;
    for d in DIALECTS {
        answered(&p, d).await;
    }
    all_refused(&p, "guard_daily_requests", "3 requests today").await;
    assert_eq!(status(&p).await["requestsToday"], 3);
    post_guard(&p, "/guard/resume").await;
    for d in DIALECTS {
        answered(&p, d).await;
    }
    assert_eq!(status(&p).await["requestsToday"], 6);
}

#[tokio::test]
async fn the_daily_token_budget_counts_cursors_tokens() {
    let p = proxy(vec![Turn::reply("one")], |s| s.guard_daily_tokens = 1000).await;
    answered(&p, Dialect::Chat).await;
    // Cursor's count of that turn: 1000 prompt tokens, one completion token.
    let g = status(&p).await;
    assert_eq!(g["tokensToday"], 1001, "{g}");
    all_refused(&p, "guard_daily_tokens", "1001 tokens today").await;
}

#[tokio::test]
async fn pause_refuses_every_dialect_with_a_403_until_resumed() {
    let mut p = proxy(vec![], |_| {}).await;
    let g = post_guard(&p, "/guard/pause").await;
    assert_eq!(g["paused"], true, "{g}");
    assert_eq!(p.health().await["guard"]["paused"], true);
    for d in DIALECTS {
        let (status, msg) = d.refused(&p, &hello(d), "guard_paused").await;
        assert_eq!(status, 403, "{d:?}");
        assert!(
            msg.contains("paused") && msg.contains("cursor-bridge guard resume"),
            "{msg}"
        );
    }
    assert_eq!(p.fake().run_count(), 0);
    let r = post_guard(&p, "/guard/resume").await;
    assert_eq!(
        (&r["cleared"], &r["status"]["paused"]),
        (&json!(1), &json!(false)),
        "{r}"
    );
    answered(&p, Dialect::Messages).await;
    p.stop().await;
    let rows = ledger_rows(&p);
    let paused: Vec<_> = rows.iter().filter(|r| r.0 == 403).collect();
    assert_eq!(paused.len(), 3, "{rows:?}");
    assert!(
        paused
            .iter()
            .all(|r| r.1.as_deref() == Some("guard_paused")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn todays_counts_survive_a_restart_so_a_daily_budget_still_refuses() {
    let budget = |s: &mut Settings| s.guard_daily_requests = 2;
    let mut p = proxy(vec![], budget).await;
    answered(&p, Dialect::Chat).await;
    answered(&p, Dialect::Responses).await;
    p.stop().await;
    // A new proxy (and guard) on the same data dir.
    let Proxy { h, .. } = p;
    let p = Proxy::start_with(h, budget).await;
    let g = status(&p).await;
    assert_eq!(
        (&g["requestsToday"], &g["trips"]),
        (&json!(2), &json!([])),
        "{g}"
    );
    let (status, msg) = Dialect::Messages
        .refused(&p, &hello(Dialect::Messages), "guard_tripped")
        .await;
    assert_eq!(status, 400);
    assert!(
        msg.contains("2 requests today (guard_daily_requests = 2)"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_runaway_is_stopped_and_its_run_cancelled_over_http1_too() {
    // `agent_transport = "http1"`: RunSSE down, BidiAppend up — another way to cancel.
    let fake = fake_playing(vec![runaway(None, false)]).await;
    let h = Harness::signed_in_over(fake, AgentTransport::Http1).await;
    let p = Proxy::start_with(h, |s| assert_eq!(s.agent_transport, AgentTransport::Http1)).await;
    let limit = Settings::default().guard_repeat_limit as usize;
    let (steps, r) = drive_loop(&p, Dialect::Chat, false, "guard_repeat_limit", limit + 2).await;
    assert_eq!((steps.len(), r.status), (limit - 1, 400), "{}", r.text);
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(run.transport, RunTransport::Http1);
    assert_eq!(run.mcp_results.len(), limit - 1);
    assert!(
        run.cancelled.is_some(),
        "the Cursor run was not cancelled: {:?}",
        run.end
    );
}
