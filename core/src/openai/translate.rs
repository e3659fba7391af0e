//! OpenAI messages → what the Cursor engine needs.
//!
//! Two cases:
//! - **Continuation**: the request ends with `tool` messages answering the tool calls of
//!   the assistant message before them. [`trailing_tool_results`] extracts them; when a
//!   parked Cursor stream waits for those ids, the results go onto that stream and
//!   nothing else of the request is re-sent.
//! - **Fresh run**: system/developer messages become the system prompt (Cursor honours it
//!   as a `cloud_rule`) and the tools become MCP definitions. The history itself travels
//!   as Cursor's checkpoint or as structure ([`super::history`], `crate::engine::history`);
//!   [`fresh_run`]'s `prompt` — the last user message alone when it is the only turn,
//!   otherwise a tagged transcript of the earlier turns followed by the latest request —
//!   is only the last resort, when Cursor reports a missing blob for both (reference §9.5).

use serde_json::Value;

use super::images::{self, Attached};
use super::request::{
    ChatCompletionRequest, Message, RequestError, Role, ToolChoice, ToolChoiceMode,
};
use crate::cursor::chat::{ToolDef, ToolResult};

/// The parts of a fresh run.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshRun {
    /// The system and developer messages plus what `tool_choice` asks
    /// ([`system_prompt`]); Cursor honours it as a `cloud_rule`.
    pub system_prompt: Option<String>,
    /// The tools to offer ([`tool_defs`]); empty for `tool_choice: "none"`.
    pub tools: Vec<ToolDef>,
    /// The conversation as one text ([`transcript`]), the last resort when Cursor has
    /// neither the checkpoint nor the structured history.
    pub prompt: String,
}

/// The tools to offer: none for `tool_choice: "none"`.
pub(crate) fn tool_defs(req: &ChatCompletionRequest) -> Vec<ToolDef> {
    if matches!(
        req.tool_choice,
        Some(ToolChoice::Mode(ToolChoiceMode::None))
    ) {
        return Vec::new();
    }
    req.tools
        .iter()
        .flatten()
        .map(|t| ToolDef {
            name: t.function.name.clone(),
            description: t.function.description.clone().unwrap_or_default(),
            parameters: t.function.parameters.clone(),
        })
        .collect()
}

fn text_of(m: &Message) -> String {
    m.content.as_ref().map(|c| c.text()).unwrap_or_default()
}

/// The results of the trailing `tool` messages, in order, when the request ends with
/// them; empty otherwise.
pub fn trailing_tool_results(req: &ChatCompletionRequest) -> Vec<(String, ToolResult)> {
    let start = req
        .messages
        .iter()
        .rposition(|m| !matches!(m.role, Role::Tool))
        .map_or(0, |i| i + 1);
    req.messages[start..]
        .iter()
        .filter_map(|m| {
            let id = m.tool_call_id.clone()?;
            Some((
                id,
                ToolResult {
                    content: text_of(m),
                    is_error: false,
                },
            ))
        })
        .collect()
}

/// The images of the newest user message, which a fresh run sends as images (earlier
/// ones stay `[image]` marks in the text: Cursor has no place for them in a new run).
pub(crate) fn newest_user_images(
    req: &ChatCompletionRequest,
) -> Result<Vec<Attached>, RequestError> {
    let Some(i) = req.messages.iter().rposition(|m| m.role == Role::User) else {
        return Ok(Vec::new());
    };
    req.messages[i]
        .image_parts()
        .map(|(j, url)| {
            let param = images::param(i, j);
            match images::decode(url) {
                Ok(image) => Ok(Attached { param, image }),
                Err(e) => Err(RequestError {
                    message: format!("{param}: {e}"),
                    param,
                    malformed: false,
                }),
            }
        })
        .collect()
}

/// System prompt, tools and prompt text for a new Cursor run.
pub fn fresh_run(req: &ChatCompletionRequest) -> FreshRun {
    let tools = tool_defs(req);
    FreshRun {
        system_prompt: system_prompt(req, &tools),
        prompt: transcript(req),
        tools,
    }
}

/// The system/developer messages, plus what `tool_choice` asks of the offered `tools`,
/// as one system prompt; `None` when there is nothing to say.
pub(crate) fn system_prompt(req: &ChatCompletionRequest, tools: &[ToolDef]) -> Option<String> {
    let mut system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .map(text_of)
        .filter(|t| !t.trim().is_empty())
        .collect();
    match &req.tool_choice {
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) if !tools.is_empty() => {
            system.push("In this response you must call at least one of the provided tools.".into())
        }
        Some(ToolChoice::Named(n)) => system.push(format!(
            "In this response you must call the tool `{}`.",
            n.function.name
        )),
        _ => {}
    }
    (!system.is_empty()).then(|| system.join("\n\n"))
}

/// The conversation as one prompt text (the last resort: the whole history copied into
/// a string, so it is built only when needed): the last user message alone when it is
/// the only turn, otherwise a tagged transcript of the earlier turns, then the latest.
pub(crate) fn transcript(req: &ChatCompletionRequest) -> String {
    let turns: Vec<&Message> = req
        .messages
        .iter()
        .filter(|m| !matches!(m.role, Role::System | Role::Developer))
        .collect();
    match turns.as_slice() {
        [] => String::new(),
        [only] if only.role == Role::User => text_of(only),
        [earlier @ .., last] => {
            let mut out = String::from(
                "The conversation so far (earlier turns, oldest first; you wrote the \
                 assistant turns and called the tools yourself):\n",
            );
            let mut names = std::collections::HashMap::new();
            let (history, latest): (&[&Message], Option<&Message>) = if last.role == Role::User {
                (earlier, Some(last))
            } else {
                (&turns[..], None)
            };
            for m in history {
                out.push('\n');
                render_turn(&mut out, m, &mut names);
            }
            out.push_str("\n---\n");
            match latest {
                Some(m) => out.push_str(&text_of(m)),
                None => out.push_str(
                    "Continue the task from the tool results above; do not repeat tool calls \
                     that already have results.",
                ),
            }
            out
        }
    }
}

fn render_turn<'a>(
    out: &mut String,
    m: &'a Message,
    names: &mut std::collections::HashMap<&'a str, &'a str>,
) {
    let text = text_of(m);
    match m.role {
        Role::User => {
            out.push_str("<user>\n");
            out.push_str(&text);
            out.push_str("\n</user>\n");
        }
        Role::Assistant => {
            out.push_str("<assistant>\n");
            if !text.is_empty() {
                out.push_str(&text);
                out.push('\n');
            }
            for c in m.tool_calls.iter().flatten() {
                names.insert(c.id.as_str(), c.function.name.as_str());
                let args = serde_json::from_str::<Value>(&c.function.arguments)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| c.function.arguments.clone());
                out.push_str(&format!(
                    "<tool_call id=\"{}\" name=\"{}\">{args}</tool_call>\n",
                    c.id, c.function.name
                ));
            }
            out.push_str("</assistant>\n");
        }
        Role::Tool | Role::Function => {
            let id = m.tool_call_id.as_deref().unwrap_or("");
            let name = names
                .get(id)
                .copied()
                .or(m.name.as_deref())
                .unwrap_or("tool");
            out.push_str(&format!("<tool_result id=\"{id}\" name=\"{name}\">\n"));
            out.push_str(&text);
            out.push_str("\n</tool_result>\n");
        }
        Role::System | Role::Developer => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> ChatCompletionRequest {
        ChatCompletionRequest::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_single_user_turn_is_sent_as_is() {
        let r = req(r#"{"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "use metric"},
            {"role": "user", "content": "hi"}]}"#);
        let f = fresh_run(&r);
        assert_eq!(f.prompt, "hi");
        assert_eq!(f.system_prompt.as_deref(), Some("be brief\n\nuse metric"));
        assert!(f.tools.is_empty());
        assert!(trailing_tool_results(&r).is_empty());
    }

    #[test]
    fn history_is_rebuilt_with_tool_calls_and_results() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/opencode-request.json"
        );
        let r = ChatCompletionRequest::parse(&std::fs::read(path).unwrap()).unwrap();
        let f = fresh_run(&r);
        assert!(f.system_prompt.unwrap().starts_with("You are opencode"));
        assert_eq!(f.tools.len(), 10);
        let bash_call = r#"<tool_call id="call_63038adf007049779dfa" name="bash">"#;
        let result = r#"<tool_result id="call_63038adf007049779dfa" name="bash">"#;
        for needle in [
            "<user>\n\"say hi\"\n</user>",
            bash_call,
            result,
            "STUB_TOOL_OK",
        ] {
            assert!(
                f.prompt.contains(needle),
                "{needle} missing in {}",
                f.prompt
            );
        }
        assert!(f.prompt.ends_with("already have results."));
        assert_eq!(
            trailing_tool_results(&r),
            vec![(
                "call_63038adf007049779dfa".to_string(),
                ToolResult {
                    content: "STUB_TOOL_OK\n".into(),
                    is_error: false
                }
            )]
        );
    }

    #[test]
    fn a_new_user_message_after_history_is_the_latest_request() {
        let r = req(r#"{"messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"}]}"#);
        let f = fresh_run(&r);
        assert!(f.prompt.contains("<user>\none\n</user>"));
        assert!(f.prompt.contains("<assistant>\ntwo\n</assistant>"));
        assert!(f.prompt.ends_with("---\nthree"), "{}", f.prompt);
        assert!(trailing_tool_results(&r).is_empty());
    }

    #[test]
    fn only_the_newest_user_message_brings_its_images() {
        let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAAfFcSJ";
        let r = req(&format!(
            r#"{{"messages": [
            {{"role": "user", "content": [{{"type": "image_url", "image_url": {{"url": "{png}"}}}}]}},
            {{"role": "assistant", "content": "a cat"}},
            {{"role": "user", "content": [{{"type": "text", "text": "and this?"}},
                {{"type": "image_url", "image_url": {{"url": "{png}"}}}}]}}]}}"#
        ));
        let got = newest_user_images(&r).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].param, "messages[2].content[1].image_url");
        assert_eq!((got[0].image.width, got[0].image.height), (2, 3));
        let f = fresh_run(&r);
        assert!(
            f.prompt.contains("<user>\n[image]\n</user>"),
            "{}",
            f.prompt
        );
        assert!(f.prompt.ends_with("and this?\n[image]"), "{}", f.prompt);
        assert!(
            newest_user_images(&req(r#"{"messages": [{"role": "user", "content": "x"}]}"#))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn tool_choice_none_offers_no_tools_and_required_says_so() {
        let tools = r#""tools": [{"type": "function", "function": {"name": "f"}}]"#;
        let none = req(&format!(
            r#"{{"messages": [{{"role": "user", "content": "x"}}], {tools}, "tool_choice": "none"}}"#
        ));
        assert!(fresh_run(&none).tools.is_empty());
        let required = req(&format!(
            r#"{{"messages": [{{"role": "user", "content": "x"}}], {tools}, "tool_choice": "required"}}"#
        ));
        let f = fresh_run(&required);
        assert_eq!(f.tools.len(), 1);
        assert!(f.system_prompt.unwrap().contains("must call"));
    }
}
