//! The dialect-neutral request: what every dialect's request becomes before the engine
//! sees it, and the rules that only need that shape (the system prompt a run carries,
//! the tool results that continue a parked run, the flattened transcript).
//!
//! A dialect module parses its wire body, checks it (naming the bad field in its own
//! error shape) and fills a [`Request`]; nothing below this point knows which client
//! sent it, except for [`Dialect`], which the ledger records.

use serde_json::Value;

use super::history::Msg;
use super::images::Attached;
use crate::cursor::chat::{ToolDef, ToolResult};

/// Which wire API a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    Chat,
    /// Anthropic Messages (`/v1/messages`).
    Messages,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
}

impl Dialect {
    /// The name the ledger and the logs record.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Chat => "chat",
            Dialect::Messages => "messages",
            Dialect::Responses => "responses",
        }
    }
}

/// What the client allows the model to do with the offered tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (every dialect's default).
    #[default]
    Auto,
    /// No tool may be called: none is offered.
    None,
    /// At least one tool must be called (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool must be called.
    Named(String),
}

/// One request, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Where it came from (recorded in the ledger).
    pub dialect: Dialect,
    /// The model name as the client asked for it; `None` takes the `default_model`.
    pub model: Option<String>,
    /// The conversation, oldest first, system instructions included.
    pub messages: Vec<Msg>,
    /// The images of the newest user message, decoded and checked (earlier ones read as
    /// `[image]` in the text: a fresh Cursor run has no place for them).
    pub images: Vec<Attached>,
    /// The tools the client declares (its own: the proxy never runs a tool).
    pub tools: Vec<ToolDef>,
    /// What the model may do with them.
    pub tool_choice: ToolChoice,
    /// Whether the client asked for a stream (the ledger records it).
    pub stream: bool,
    /// The client's name as its `User-Agent` gives it (`claude-cli`, `codex_exec`, …),
    /// for the usage split by client.
    pub client: Option<String>,
}

/// The parts of a fresh run a request makes, all at once (the engine builds the
/// transcript only when it needs it; the benchmark, the fuzz targets and the property
/// tests want every part).
#[derive(Debug, Clone, PartialEq)]
pub struct FreshRun {
    /// [`Request::system_prompt`] over the offered tools.
    pub system_prompt: Option<String>,
    /// [`Request::offered_tools`].
    pub tools: Vec<ToolDef>,
    /// [`Request::transcript`].
    pub prompt: String,
}

impl Request {
    /// Every part of a fresh run of this request ([`FreshRun`]).
    pub fn fresh_run(&self) -> FreshRun {
        let tools = self.offered_tools();
        FreshRun {
            system_prompt: self.system_prompt(&tools),
            prompt: self.transcript(),
            tools,
        }
    }

    /// A request of `dialect` with no messages, tools or images yet.
    pub fn new(dialect: Dialect) -> Self {
        Request {
            dialect,
            model: None,
            messages: Vec::new(),
            images: Vec::new(),
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            stream: false,
            client: None,
        }
    }

    /// The tools to offer: none for [`ToolChoice::None`].
    pub fn offered_tools(&self) -> Vec<ToolDef> {
        if self.tool_choice == ToolChoice::None {
            return Vec::new();
        }
        self.tools.clone()
    }

    /// The system messages, plus what `tool_choice` asks of the offered `tools`, as one
    /// system prompt; `None` when there is nothing to say.
    pub fn system_prompt(&self, tools: &[ToolDef]) -> Option<String> {
        let mut system: Vec<String> = self
            .messages
            .iter()
            .filter_map(|m| match m {
                Msg::System(t) if !t.trim().is_empty() => Some(t.clone()),
                _ => None,
            })
            .collect();
        match &self.tool_choice {
            ToolChoice::Required if !tools.is_empty() => system
                .push("In this response you must call at least one of the provided tools.".into()),
            ToolChoice::Named(n) => {
                system.push(format!("In this response you must call the tool `{n}`."))
            }
            _ => {}
        }
        (!system.is_empty()).then(|| system.join("\n\n"))
    }

    /// The results of the trailing tool messages, in order, when the request ends with
    /// them (a continuation of a parked run); empty otherwise.
    pub fn trailing_tool_results(&self) -> Vec<(String, ToolResult)> {
        let start = self
            .messages
            .iter()
            .rposition(|m| !matches!(m, Msg::Tool { .. }))
            .map_or(0, |i| i + 1);
        self.messages[start..]
            .iter()
            .filter_map(|m| match m {
                Msg::Tool {
                    call_id,
                    result,
                    is_error,
                    ..
                } => Some((
                    call_id.clone(),
                    ToolResult {
                        content: result.clone(),
                        is_error: *is_error,
                    },
                )),
                _ => None,
            })
            .collect()
    }

    /// The conversation as one prompt text (the last resort, when Cursor has neither the
    /// checkpoint nor the structured history: the whole history copied into a string, so
    /// it is built only when needed): the last user message alone when it is the only
    /// turn, otherwise a tagged transcript of the earlier turns, then the latest.
    pub fn transcript(&self) -> String {
        let turns: Vec<&Msg> = self
            .messages
            .iter()
            .filter(|m| !matches!(m, Msg::System(_)))
            .collect();
        match turns.as_slice() {
            [] => String::new(),
            [Msg::User(only)] => only.clone(),
            [earlier @ .., last] => {
                let mut out = String::from(
                    "The conversation so far (earlier turns, oldest first; you wrote the \
                     assistant turns and called the tools yourself):\n",
                );
                let (history, latest) = match last {
                    Msg::User(t) => (earlier, Some(t)),
                    _ => (&turns[..], None),
                };
                for m in history {
                    out.push('\n');
                    render_turn(&mut out, m);
                }
                out.push_str("\n---\n");
                match latest {
                    Some(t) => out.push_str(t),
                    None => out.push_str(
                        "Continue the task from the tool results above; do not repeat tool \
                         calls that already have results.",
                    ),
                }
                out
            }
        }
    }
}

fn render_turn(out: &mut String, m: &Msg) {
    match m {
        Msg::User(text) => {
            out.push_str("<user>\n");
            out.push_str(text);
            out.push_str("\n</user>\n");
        }
        Msg::Assistant { text, calls } => {
            out.push_str("<assistant>\n");
            if !text.is_empty() {
                out.push_str(text);
                out.push('\n');
            }
            for c in calls {
                let args = match &c.args {
                    Value::String(raw) => raw.clone(),
                    v => v.to_string(),
                };
                out.push_str(&format!(
                    "<tool_call id=\"{}\" name=\"{}\">{args}</tool_call>\n",
                    c.id, c.name
                ));
            }
            out.push_str("</assistant>\n");
        }
        Msg::Tool {
            call_id,
            name,
            result,
            ..
        } => {
            out.push_str(&format!("<tool_result id=\"{call_id}\" name=\"{name}\">\n"));
            out.push_str(result);
            out.push_str("\n</tool_result>\n");
        }
        Msg::System(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::history::Call;
    use serde_json::json;

    fn req(messages: Vec<Msg>) -> Request {
        Request {
            messages,
            ..Request::new(Dialect::Chat)
        }
    }

    #[test]
    fn a_single_user_turn_is_sent_as_is_with_the_system_messages_joined() {
        let r = req(vec![
            Msg::System("be brief".into()),
            Msg::System("use metric".into()),
            Msg::User("hi".into()),
        ]);
        assert_eq!(r.transcript(), "hi");
        assert_eq!(
            r.system_prompt(&[]).as_deref(),
            Some("be brief\n\nuse metric")
        );
        assert!(r.trailing_tool_results().is_empty());
    }

    #[test]
    fn the_transcript_tags_turns_and_ends_with_the_latest_request_or_a_resume() {
        let call = Call {
            id: "c1".into(),
            name: "bash".into(),
            args: json!({"command": "ls"}),
        };
        let mut msgs = vec![
            Msg::User("list".into()),
            Msg::Assistant {
                text: String::new(),
                calls: vec![call],
            },
            Msg::Tool {
                call_id: "c1".into(),
                name: "bash".into(),
                result: "a.txt".into(),
                is_error: true,
            },
        ];
        let r = req(msgs.clone());
        let t = r.transcript();
        assert!(t.contains("<user>\nlist\n</user>"), "{t}");
        assert!(t.contains(r#"<tool_call id="c1" name="bash">{"command":"ls"}</tool_call>"#));
        assert!(t.contains("<tool_result id=\"c1\" name=\"bash\">\na.txt\n</tool_result>"));
        assert!(t.ends_with("already have results."), "{t}");
        assert_eq!(
            r.trailing_tool_results(),
            vec![(
                "c1".to_string(),
                ToolResult {
                    content: "a.txt".into(),
                    is_error: true
                }
            )]
        );
        msgs.push(Msg::User("thanks".into()));
        let r = req(msgs);
        assert!(r.transcript().ends_with("---\nthanks"));
        assert!(r.trailing_tool_results().is_empty());
    }

    #[test]
    fn tool_choice_none_offers_no_tools_and_the_others_say_what_they_ask() {
        let tool = ToolDef {
            name: "f".into(),
            description: String::new(),
            parameters: None,
        };
        let mut r = req(vec![Msg::User("x".into())]);
        r.tools = vec![tool];
        r.tool_choice = ToolChoice::None;
        assert!(r.offered_tools().is_empty());
        r.tool_choice = ToolChoice::Required;
        let tools = r.offered_tools();
        assert!(
            r.system_prompt(&tools)
                .unwrap()
                .contains("must call at least one")
        );
        assert_eq!(
            r.system_prompt(&[]),
            None,
            "nothing offered: nothing required"
        );
        r.tool_choice = ToolChoice::Named("f".into());
        assert!(r.system_prompt(&tools).unwrap().contains("the tool `f`"));
    }
}
