//! The UI's side of the IPC contract, generated from the types of [`super`] by ts-rs into
//! `ui/src/generated/ipc.ts` (committed, so the UI builds without Rust). The test below
//! fails when the committed file differs from what these types generate now;
//! `UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types` rewrites it.

use std::path::PathBuf;

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
        declared::<ClientVersionInfo>(cfg),
        declared::<VersionSource>(cfg),
        declared::<Model>(cfg),
        declared::<LimitSource>(cfg),
        declared::<AgentTransport>(cfg),
        declared::<SettingsView>(cfg),
        declared::<Range>(cfg),
        declared::<Bucket>(cfg),
        declared::<UsageTotals>(cfg),
        declared::<UsagePoint>(cfg),
        declared::<UsageReport>(cfg),
        declared::<Latency>(cfg),
        declared::<ErrorCount>(cfg),
        declared::<PlanUsage>(cfg),
        declared::<PlanPool>(cfg),
        declared::<RecentError>(cfg),
        declared::<OpencodeSnippet>(cfg),
        declared::<WriteOutcome>(cfg),
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
