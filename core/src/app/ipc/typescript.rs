//! The UI's side of the IPC contract, generated from the types of [`super`] by ts-rs into
//! `ui/src/generated/ipc.ts` (committed, so the UI builds without Rust). The test below
//! fails when the committed file differs from what these types generate now;
//! `UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types` rewrites it.
//! Another test holds values of the types, as serde emits them, against the generated
//! declarations (keys, `null`s, numbers), so an attribute ts-rs reads differently from
//! serde cannot go unnoticed.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;
use ts_rs::{Config, TS};

use super::*;

/// Where the UI imports the generated types from.
fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/generated/ipc.ts")
}

const REGENERATE: &str = "UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types";

/// One exported type: its TypeScript name, its declaration (with its doc as JSDoc), and
/// the names of the types it refers to.
struct Declared {
    name: String,
    text: String,
    uses: Vec<String>,
}

fn declared<T: TS + 'static>(cfg: &Config) -> Declared {
    let mut text = T::docs().unwrap_or_default();
    text.push_str("export ");
    text.push_str(&T::decl(cfg));
    Declared {
        name: T::ident(cfg),
        text,
        uses: T::dependencies(cfg)
            .into_iter()
            .map(|d| d.ts_name)
            .collect(),
    }
}

/// Every type that crosses IPC, in the order of `docs/IPC.md`.
fn contract() -> Vec<Declared> {
    // Every integer on the wire is a count, a port or a Unix-millisecond time: far below
    // 2^53, so a JavaScript `number` holds it exactly (serde_json emits plain numbers).
    let cfg = Config::new().with_large_int("number");
    let cfg = &cfg;
    vec![
        declared::<ProxyRunState>(cfg),
        declared::<Account>(cfg),
        declared::<ProxyStatus>(cfg),
        declared::<Status>(cfg),
        declared::<SignInProgress>(cfg),
        declared::<GuardSummary>(cfg),
        declared::<ClientVersionInfo>(cfg),
        declared::<VersionSource>(cfg),
        declared::<Model>(cfg),
        declared::<LimitSource>(cfg),
        declared::<AgentTransport>(cfg),
        declared::<SettingsView>(cfg),
        declared::<OnDemand>(cfg),
        declared::<GuardStatus>(cfg),
        declared::<GuardRules>(cfg),
        declared::<GuardTrip>(cfg),
        declared::<GuardRule>(cfg),
        declared::<Range>(cfg),
        declared::<Bucket>(cfg),
        declared::<UsageTotals>(cfg),
        declared::<UsagePoint>(cfg),
        declared::<UsageReport>(cfg),
        declared::<SplitPoint>(cfg),
        declared::<SplitUsage>(cfg),
        declared::<Latency>(cfg),
        declared::<ErrorCount>(cfg),
        declared::<PlanUsage>(cfg),
        declared::<PlanPool>(cfg),
        declared::<RecentError>(cfg),
        declared::<OpencodeSnippet>(cfg),
        declared::<WriteOutcome>(cfg),
        declared::<Client>(cfg),
        declared::<OpencodeShape>(cfg),
        declared::<ConnectChoice>(cfg),
        declared::<ConnectReport>(cfg),
        declared::<DisconnectReport>(cfg),
        declared::<ConnectionStatus>(cfg),
        declared::<ClientSnippet>(cfg),
        declared::<ErrorKind>(cfg),
        declared::<CommandError>(cfg),
    ]
}

/// The whole generated file.
fn generate(types: &[Declared]) -> String {
    let mut out = format!(
        "// Generated from core/src/app/ipc.rs (the IPC contract, docs/IPC.md) by ts-rs.\n\
         // Do not edit: change the Rust types and run `{REGENERATE}`.\n"
    );
    for t in types {
        out.push('\n');
        out.push_str(&t.text);
        out.push('\n');
    }
    out
}

#[test]
fn ipc_types_refer_only_to_types_in_the_file() {
    let types = contract();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    for t in &types {
        for used in &t.uses {
            assert!(
                names.contains(&used.as_str()),
                "{} uses {used}, which is not in contract()",
                t.name
            );
        }
    }
}

#[test]
fn ipc_types_match_the_committed_file() {
    let fresh = generate(&contract());
    let path = committed_path();
    if std::env::var_os("UPDATE_IPC_TYPES").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create ui/src/generated");
        }
        std::fs::write(&path, &fresh).expect("write ui/src/generated/ipc.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ui/src/generated/ipc.ts differs from what core/src/app/ipc.rs generates: \
         regenerate it with `{REGENERATE}` and commit it"
    );
}

/// The right-hand side of every declaration in `types`, by TypeScript name.
fn declarations(types: &[Declared]) -> HashMap<String, String> {
    types
        .iter()
        .map(|t| {
            let rhs = t.text.split_once(" = ").map_or("", |(_, r)| r);
            (t.name.clone(), rhs.trim_end_matches(';').to_string())
        })
        .collect()
}

/// The fields of an object type `{ a: T, /** doc */ b: U, }`, JSDoc left out.
fn fields(object: &str) -> Vec<(String, String)> {
    let mut text = String::new();
    let mut rest = object.trim();
    while let Some(start) = rest.find("/**") {
        text.push_str(&rest[..start]);
        rest = rest[start..].split_once("*/").map_or("", |(_, r)| r);
    }
    text.push_str(rest);
    let body = text.trim().trim_start_matches('{').trim_end_matches('}');
    let (mut out, mut depth, mut part) = (Vec::new(), 0usize, String::new());
    for c in body.chars().chain([',']) {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                if let Some((name, ty)) = part.split_once(':') {
                    out.push((name.trim().to_string(), ty.trim().to_string()));
                }
                part.clear();
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    out
}

/// Fails unless `value` (what serde emits) has the shape the TypeScript type `ty` declares:
/// the same keys, `null` only where `| null` allows it, and the declared kind of value.
fn conforms(value: &Value, ty: &str, decls: &HashMap<String, String>, at: &str) {
    if let Some(inner) = ty.strip_suffix(" | null") {
        if !value.is_null() {
            conforms(value, inner, decls, at);
        }
        return;
    }
    let ok = match ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ if ty.starts_with("Array<") => {
            let inner = &ty["Array<".len()..ty.len() - 1];
            for (i, v) in value.as_array().expect(at).iter().enumerate() {
                conforms(v, inner, decls, &format!("{at}[{i}]"));
            }
            true
        }
        _ if ty.starts_with('"') => ty
            .split(" | ")
            .any(|lit| value.as_str() == Some(lit.trim_matches('"'))),
        _ if ty.starts_with('{') => {
            let declared = fields(ty);
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: not an object"));
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            let mut names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
            keys.sort_unstable();
            names.sort_unstable();
            assert_eq!(
                keys, names,
                "{at}: serde's keys differ from the TypeScript fields"
            );
            for (name, field_ty) in &declared {
                conforms(
                    &object[name.as_str()],
                    field_ty,
                    decls,
                    &format!("{at}.{name}"),
                );
            }
            true
        }
        named => {
            let rhs = decls
                .get(named)
                .unwrap_or_else(|| panic!("{at}: {named} is not declared"));
            conforms(value, rhs, decls, at);
            true
        }
    };
    assert!(ok, "{at}: {value} is not a {ty}");
}

fn json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("an IPC type serializes")
}

/// One value of each type the commands return (and the event carries), with every
/// optional field both set and unset somewhere.
fn samples() -> Vec<(&'static str, Value)> {
    let status = |signed_in: bool| Status {
        signed_in,
        account: signed_in.then(|| Account {
            email: Some("a@b.c".into()),
            plan: None,
        }),
        proxy: ProxyStatus {
            state: ProxyRunState::Error,
            host: "127.0.0.1".into(),
            port: 18741,
            base_url: "http://127.0.0.1:18741/v1".into(),
            error: Some("Port 18741 is in use".into()),
        },
        launch_at_login: false,
        version: "0.1.0".into(),
        commit: "6a334c3a1b".into(),
        client_version: ClientVersionInfo {
            version: "cli-2026.07.23-e383d2b".into(),
            source: VersionSource::Installer,
            source_label: VersionSource::Installer.describe().into(),
        },
        sign_in: (!signed_in).then_some(SignInProgress {
            attempt: 3,
            started_unix_ms: 1_768_399_334_000,
        }),
        guard: GuardSummary {
            paused: !signed_in,
            tripped: vec!["guard_repeat_limit".into()],
        },
    };
    let totals = UsageTotals {
        requests: 3,
        errors: 1,
        prompt_tokens: 30,
        ..UsageTotals::default()
    };
    let report = UsageReport {
        range: Range::Day,
        bucket: Bucket::Hour,
        generated_at: 1_768_399_334_000,
        totals: totals.clone(),
        series: vec![UsagePoint {
            bucket_start: 1_768_395_600_000,
            model: "m".into(),
            requests: 3,
            errors: 1,
            prompt_tokens: 30,
            completion_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            estimated_requests: 0,
        }],
        latency: Latency {
            ttft_p50_ms: Some(12),
            ..Latency::default()
        },
        errors_by_kind: vec![ErrorCount {
            kind: "quota".into(),
            count: 1,
        }],
        tokens_exact: true,
        series_by_dialect: vec![SplitPoint {
            bucket_start: 1_768_395_600_000,
            key: Some("chat".into()),
            requests: 3,
            errors: 1,
            prompt_tokens: 30,
            completion_tokens: 0,
        }],
        series_by_client: vec![SplitPoint {
            bucket_start: 1_768_395_600_000,
            key: None,
            requests: 3,
            errors: 1,
            prompt_tokens: 30,
            completion_tokens: 0,
        }],
        by_dialect: vec![SplitUsage {
            key: Some("chat".into()),
            requests: 3,
            errors: 1,
            prompt_tokens: 30,
            completion_tokens: 0,
            estimated_requests: 0,
        }],
        by_client: vec![SplitUsage {
            key: None,
            requests: 3,
            errors: 1,
            prompt_tokens: 30,
            completion_tokens: 0,
            estimated_requests: 0,
        }],
    };
    let plan = PlanUsage {
        spent_cents: Some(1347),
        included_cents: None,
        remaining_cents: None,
        total_percent_used: Some(67.35),
        pools: vec![PlanPool {
            id: "auto".into(),
            label: "Auto + Composer".into(),
            percent_used: None,
        }],
        cycle_start: Some(1),
        cycle_end: None,
        fetched_at: 2,
    };
    vec![
        ("Status", json(&status(true))),
        ("Status", json(&status(false))),
        (
            "Model",
            json(&Model {
                id: "gpt-5".into(),
                name: "GPT-5".into(),
                aliases: vec!["g".into()],
                reasoning: true,
                supports_images: None,
                context_limit: 272_000,
                output_limit: 128_000,
                limit_source: LimitSource::KnownFamily,
            }),
        ),
        (
            "Settings",
            json(&SettingsView {
                host: "127.0.0.1".into(),
                port: 18741,
                default_model: "auto".into(),
                start_proxy_on_launch: true,
                require_api_key: true,
                agent_transport: "http2".into(),
                guard_enabled: true,
                guard_repeat_limit: 5,
                guard_max_tool_steps: 100,
                guard_requests_per_minute: 120,
                guard_daily_requests: 0,
                guard_daily_tokens: 0,
                guard_on_demand: OnDemand::Warn,
            }),
        ),
        ("UsageReport", json(&report)),
        ("PlanUsage", json(&plan)),
        ("GuardStatus", json(&guard_sample())),
        (
            "RecentError",
            json(&RecentError {
                at: 1,
                kind: "quota".into(),
                dialect: "messages".into(),
                client: Some("claude-cli".into()),
                message: "m: Cursor's usage limit was reached (HTTP 429)".into(),
            }),
        ),
        (
            "OpencodeSnippet",
            json(&OpencodeSnippet {
                text: "{}".into(),
                base_url: "http://127.0.0.1:18741/v1".into(),
            }),
        ),
        (
            "OpencodeInstall",
            json(&WriteOutcome {
                path: "/home/a/.config/opencode/opencode.json".into(),
                backup: None,
                created: true,
            }),
        ),
        (
            "ConnectReport",
            json(&ConnectReport {
                client: Client::ClaudeCode,
                path: "/home/a/.claude/settings.json".into(),
                diff: "--- a\n+++ a\n".into(),
                backup: Some("/home/a/.claude/settings.json.bak-1".into()),
                created: false,
                dry_run: true,
                notes: vec!["n".into()],
            }),
        ),
        (
            "DisconnectReport",
            json(&DisconnectReport {
                client: Client::Codex,
                path: None,
                backup: None,
                restored_exactly: false,
                removed: false,
                notes: vec![],
            }),
        ),
        (
            "ConnectionStatus",
            json(&ConnectionStatus {
                client: Client::Opencode,
                name: "OpenCode".into(),
                path: Some("/home/a/.config/opencode/opencode.json".into()),
                connected: true,
                stale: false,
            }),
        ),
        (
            "ConnectChoice",
            json(&ConnectChoice {
                dry_run: true,
                set_default: false,
                opencode_shape: Some(OpencodeShape::V2),
            }),
        ),
        (
            "ClientSnippet",
            json(&ClientSnippet {
                client: Client::Codex,
                text: "[model_providers.cursor-bridge]".into(),
                path: None,
                notes: vec![],
            }),
        ),
        (
            "CommandError",
            json(&CommandError::new(
                ErrorKind::PortInUse,
                "Port 18741 is in use.",
            )),
        ),
        ("AgentTransport", json(&AgentTransport::Http1)),
    ]
}

#[test]
fn ipc_types_describe_what_serde_emits() {
    let types = contract();
    let decls = declarations(&types);
    for (name, value) in samples() {
        conforms(&value, name, &decls, name);
    }
}

/// A guard with a trip and counts, as `guard_status` returns it.
fn guard_sample() -> GuardStatus {
    let guard = crate::engine::guard::Guard::new();
    guard.seed(7, 1200);
    guard.pause();
    let mut s = guard.status(&GuardRules::of(
        &crate::config::settings::Settings::default(),
    ));
    s.trips.push(GuardTrip {
        rule: GuardRule::RepeatLimit,
        message: "stopped".into(),
        at_ms: 1,
        count: 5,
        limit: 5,
        refused: 1,
    });
    s
}
