//! Connect and disconnect on real files for every client: what else is in the file stays
//! byte for byte, dry runs write nothing, reconnects are idempotent, disconnect puts the
//! original back (exactly, or key by key around the user's own later changes).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;
use crate::connect::opencode::tests::sample_model;

const KEY: &str = "cb-test-key-0123456789";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_768_399_334)
}

fn inputs(port: u16) -> Inputs {
    Inputs {
        root_url: format!("http://127.0.0.1:{port}"),
        api_key: KEY.into(),
        key_command: None,
        set_default: false,
    }
}

/// Claude Code's status as a proxy on `port` with [`KEY`] sees it.
fn claude_status(data: &Path, port: u16) -> ConnectionStatus {
    let root = format!("http://127.0.0.1:{port}");
    status(Client::ClaudeCode, None, Format::Json, data, &root, KEY)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

const CLAUDE_SETTINGS: &str = r#"{
  "permissions": { "allow": ["Bash(ls:*)"] },
  "env": {
    "DISABLE_TELEMETRY": "1",
    "ANTHROPIC_BASE_URL": "https://api.example.com"
  },
  "theme":   "dark"
}
"#;

struct Case {
    _dir: tempfile::TempDir,
    data: PathBuf,
    path: PathBuf,
}

fn case(name: &str, text: Option<&str>) -> Case {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let path = dir.path().join("cfg").join(name);
    if let Some(t) = text {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, t).expect("write");
    }
    Case {
        _dir: dir,
        data,
        path,
    }
}

#[test]
fn claude_code_connect_keeps_the_rest_and_disconnect_restores_it_exactly() {
    let c = case("settings.json", Some(CLAUDE_SETTINGS));
    let setup = claude_code::setup(c.path.clone(), &inputs(4242));

    let dry = connect(&setup, &inputs(4242), &c.data, true, now()).expect("dry run");
    assert!(dry.dry_run && dry.backup.is_none());
    assert!(
        dry.diff
            .contains("+    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:4242\""),
        "{}",
        dry.diff
    );
    assert!(
        !dry.diff.contains(KEY) && dry.diff.contains("<local API key>"),
        "{}",
        dry.diff
    );
    assert_eq!(fs::read_to_string(&c.path).expect("read"), CLAUDE_SETTINGS);
    assert!(!c.data.exists(), "a dry run records nothing");

    let done = connect(&setup, &inputs(4242), &c.data, false, now()).expect("connects");
    assert_eq!(done.diff, dry.diff);
    let text = fs::read_to_string(&c.path).expect("read");
    for kept in [
        "  \"permissions\": { \"allow\": [\"Bash(ls:*)\"] },\n",
        "    \"DISABLE_TELEMETRY\": \"1\",\n",
        "  \"theme\":   \"dark\"\n}\n",
    ] {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    let v = edit::data(Format::Json, &text).expect("parses");
    assert_eq!(v["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:4242");
    assert_eq!(v["env"]["ANTHROPIC_AUTH_TOKEN"], KEY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&c.path), 0o600, "it holds the key");
        assert_eq!(mode(&c.data.join("connections.json")), 0o600);
    }
    let backup = done.backup.clone().expect("backup");
    assert_eq!(
        fs::read_to_string(&backup).expect("backup"),
        CLAUDE_SETTINGS
    );
    let record = fs::read_to_string(c.data.join("connections.json")).expect("record");
    assert!(!record.contains(KEY), "the record holds no key: {record}");

    // Again: nothing to write, no second backup.
    let again = connect(&setup, &inputs(4242), &c.data, false, now()).expect("again");
    assert_eq!((again.diff.as_str(), again.backup.as_ref()), ("", None));
    assert_eq!(files(c.path.parent().expect("dir")).len(), 2);

    let st = claude_status(&c.data, 4242);
    assert!(st.connected && !st.stale, "{st:?}");
    let st = claude_status(&c.data, 9);
    assert!(st.connected && st.stale, "another port: {st:?}");
    let root = "http://127.0.0.1:4242";
    let st = status(
        Client::ClaudeCode,
        None,
        Format::Json,
        &c.data,
        root,
        "cb-new-key",
    );
    assert!(st.stale, "the file holds the old key: {st:?}");

    let undone = disconnect(Client::ClaudeCode, Format::Json, &c.data, now()).expect("disconnects");
    assert!(undone.restored_exactly, "{undone:?}");
    assert_eq!(fs::read_to_string(&c.path).expect("read"), CLAUDE_SETTINGS);
    let st = claude_status(&c.data, 4242);
    assert!(!st.connected);
    let twice = disconnect(Client::ClaudeCode, Format::Json, &c.data, now()).expect("no-op");
    assert!(twice.path.is_none() && twice.notes[0].contains("not connected"));
}

#[test]
fn disconnect_around_the_users_later_changes_undoes_only_ours() {
    let c = case("settings.json", Some(CLAUDE_SETTINGS));
    let mut with_helper = inputs(4242);
    with_helper.key_command = Some(PathBuf::from("/opt/cb/cursor-bridge"));
    let setup = claude_code::setup(c.path.clone(), &with_helper);
    connect(&setup, &with_helper, &c.data, false, now()).expect("connects");
    let text = fs::read_to_string(&c.path).expect("read");
    let v = edit::data(Format::Json, &text).expect("parses");
    assert_eq!(v["apiKeyHelper"], "'/opt/cb/cursor-bridge' key");
    assert!(v["env"].get("ANTHROPIC_AUTH_TOKEN").is_none() && !text.contains(KEY));

    // A reconnect on another port keeps the pre-connect values as "previous".
    let moved = inputs(5555);
    let mut moved_helper = moved.clone();
    moved_helper.key_command = with_helper.key_command.clone();
    let setup2 = claude_code::setup(c.path.clone(), &moved_helper);
    connect(&setup2, &moved_helper, &c.data, false, now()).expect("reconnects");
    let root = "http://127.0.0.1:5555";
    let st = status(
        Client::ClaudeCode,
        None,
        Format::Json,
        &c.data,
        root,
        "cb-new-key",
    );
    assert!(
        st.connected && !st.stale,
        "the helper prints whatever key is current: {st:?}"
    );

    // The user changes the theme and our helper by hand.
    let edited = fs::read_to_string(&c.path)
        .expect("read")
        .replace("\"dark\"", "\"light\"")
        .replace("'/opt/cb/cursor-bridge' key", "my-own-helper");
    fs::write(&c.path, &edited).expect("write");
    let undone = disconnect(Client::ClaudeCode, Format::Json, &c.data, now()).expect("disconnects");
    assert!(!undone.restored_exactly);
    assert!(
        undone.notes.iter().any(|n| n.contains("apiKeyHelper")),
        "{undone:?}"
    );
    let after = fs::read_to_string(&c.path).expect("read");
    let v = edit::data(Format::Json, &after).expect("parses");
    assert_eq!(
        v["env"]["ANTHROPIC_BASE_URL"], "https://api.example.com",
        "the user's URL is back"
    );
    assert_eq!(v["theme"], "light");
    assert_eq!(v["apiKeyHelper"], "my-own-helper");
    assert!(
        after.contains("\"theme\":   \"light\""),
        "spacing kept: {after}"
    );
    assert!(undone.backup.is_some());
}

const CODEX_CONFIG: &str = r#"# my Codex config
model = "gpt-6.1-sol"   # the default
approval_policy = "on-request"

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"

# MCP servers
[mcp_servers.docs]
command = "docs-mcp"
"#;

#[test]
fn codex_connect_adds_a_provider_table_keeping_comments_and_set_default_is_opt_in() {
    let c = case("config.toml", Some(CODEX_CONFIG));
    let plain = inputs(4242);
    let setup = codex::setup(c.path.clone(), &plain);
    connect(&setup, &plain, &c.data, false, now()).expect("connects");
    let text = fs::read_to_string(&c.path).expect("read");
    for kept in CODEX_CONFIG.split("\n\n") {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    assert!(
        text.contains("[model_providers.cursor-bridge]\nname = \"Cursor (via Cursor Bridge)\"\nbase_url = \"http://127.0.0.1:4242/v1\"\nwire_api = \"responses\"\nenv_key = \"CURSOR_BRIDGE_API_KEY\"\n"),
        "{text}"
    );
    assert!(!text.contains("[model_providers]\n"), "{text}");
    assert!(
        setup
            .notes
            .iter()
            .any(|n| n.contains("export CURSOR_BRIDGE_API_KEY="))
    );

    let mut default = plain.clone();
    default.set_default = true;
    default.key_command = Some(PathBuf::from("/opt/cb/cursor-bridge"));
    let setup = codex::setup(c.path.clone(), &default);
    connect(&setup, &default, &c.data, false, now()).expect("reconnects");
    let text = fs::read_to_string(&c.path).expect("read");
    assert!(
        text.starts_with("# my Codex config\nmodel = \"auto\"   # the default\n"),
        "{text}"
    );
    assert!(
        text.contains("model_provider = \"cursor-bridge\""),
        "{text}"
    );
    assert!(text.contains("[model_providers.cursor-bridge.auth]\ncommand = \"/opt/cb/cursor-bridge\"\nargs = [\"key\"]\n"), "{text}");
    assert!(text.contains("# MCP servers\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n"));

    let undone = disconnect(Client::Codex, Format::Toml, &c.data, now()).expect("disconnects");
    assert!(undone.restored_exactly, "{undone:?}");
    assert_eq!(fs::read_to_string(&c.path).expect("read"), CODEX_CONFIG);
}

#[test]
fn a_created_file_is_removed_again_and_a_malformed_one_refused() {
    let c = case("config.toml", None);
    let setup = codex::setup(c.path.clone(), &inputs(4242));
    let done = connect(&setup, &inputs(4242), &c.data, false, now()).expect("creates");
    assert!(done.created && done.backup.is_none());
    assert!(done.diff.starts_with("--- /dev/null\n"), "{}", done.diff);
    let undone = disconnect(Client::Codex, Format::Toml, &c.data, now()).expect("disconnects");
    assert!(undone.removed && !c.path.exists(), "{undone:?}");

    for (name, text, format) in [
        ("config.toml", "[model_providers\nname = 1\n", Format::Toml),
        ("config.toml", "model_providers = \"x\"\n", Format::Toml),
        ("settings.json", "{ \"env\": [] }", Format::Json),
        ("settings.json", "{ \"env\": { } ", Format::Json),
        // Claude Code reads strict JSON: with a comment it ignores the whole file.
        (
            "settings.json",
            "{\n  // mine\n  \"theme\": \"dark\"\n}\n",
            Format::Json,
        ),
        ("settings.json", "{ \"theme\": \"dark\", }", Format::Json),
    ] {
        let c = case(name, Some(text));
        let setup = match format {
            Format::Toml => codex::setup(c.path.clone(), &inputs(1)),
            Format::Json | Format::Jsonc => claude_code::setup(c.path.clone(), &inputs(1)),
        };
        let err = connect(&setup, &inputs(1), &c.data, false, now()).expect_err(text);
        assert!(err.is_refusal(), "{text:?}: {err}");
        assert!(err.to_string().contains("not modified"), "{err}");
        assert_eq!(fs::read_to_string(&c.path).expect("read"), text);
        assert_eq!(files(c.path.parent().expect("dir")).len(), 1, "no backup");
    }
}

#[test]
fn opencode_two_gets_the_providers_shape_and_drops_our_old_entry() {
    assert_eq!(
        opencode::shape_of_version(Some("2.0.3\n")),
        OpencodeShape::V2
    );
    assert_eq!(opencode::shape_of_version(Some("v10.1")), OpencodeShape::V2);
    assert_eq!(
        opencode::shape_of_version(Some("1.14.2")),
        OpencodeShape::V1
    );
    assert_eq!(opencode::shape_of_version(None), OpencodeShape::V1);
    assert_eq!(opencode::shape_of_version(Some("dev")), OpencodeShape::V1);

    let old = r#"{ "provider": { "cursor-bridge": { "npm": "x" }, "ollama": {} } }"#;
    let c = case("opencode.json", Some(old));
    let setup = opencode::setup(
        c.path.clone(),
        &inputs(4242),
        &[sample_model()],
        OpencodeShape::V2,
    );
    connect(&setup, &inputs(4242), &c.data, false, now()).expect("connects");
    let v = edit::data(Format::Jsonc, &fs::read_to_string(&c.path).expect("read")).expect("parses");
    assert_eq!(v["provider"], json!({"ollama": {}}));
    let p = &v["providers"]["cursor-bridge"];
    assert_eq!(p["package"], "aisdk:@ai-sdk/openai-compatible");
    assert_eq!(
        p["settings"],
        json!({"baseURL": "http://127.0.0.1:4242/v1", "apiKey": KEY})
    );
    let m = &p["models"]["claude-4.5-sonnet-thinking"];
    assert_eq!(m["limit"], json!({"context": 200_000, "output": 64_000}));
    assert_eq!(
        m["capabilities"]["input"],
        json!({"text": true, "image": true})
    );
    assert_eq!(m["compatibility"]["reasoningField"], "reasoning_content");
    assert!(p["models"].get("auto").is_some());
    assert!(v.get("$schema").is_none(), "only a fresh file gets $schema");

    let undone = disconnect(Client::Opencode, Format::Json, &c.data, now()).expect("disconnects");
    assert!(undone.restored_exactly);
    assert_eq!(fs::read_to_string(&c.path).expect("read"), old);
}

#[test]
fn config_paths_follow_each_clients_own_variables() {
    let env = crate::config::settings::Env::from_pairs([
        (ENV_USER_HOME, "/h"),
        (claude_code::ENV_CONFIG_DIR, "/cc"),
        (codex::ENV_CODEX_HOME, "/cx"),
        (opencode::ENV_OPENCODE_CONFIG, "/oc/my.json"),
    ]);
    assert_eq!(
        claude_code::config_path(&env).expect("path"),
        Path::new("/cc/settings.json")
    );
    assert_eq!(
        codex::config_path(&env).expect("path"),
        Path::new("/cx/config.toml")
    );
    assert_eq!(
        opencode::default_config_path(&env).expect("path"),
        Path::new("/oc/my.json")
    );
    let env = crate::config::settings::Env::from_pairs([(ENV_USER_HOME, "/h")]);
    assert_eq!(
        claude_code::config_path(&env).expect("path"),
        Path::new("/h").join(".claude").join("settings.json")
    );
    assert_eq!(
        codex::config_path(&env).expect("path"),
        Path::new("/h").join(".codex").join("config.toml")
    );
    let none = crate::config::settings::Env::from_pairs::<[(&str, &str); 0], _, _>([]);
    let err = codex::config_path(&none).expect_err("no home");
    assert!(err.to_string().contains("CODEX_HOME"), "{err}");
    let _: Option<Value> = None;
}

/// OpenCode has no key command, so the key is in its config: a shared (0644) config
/// becomes the owner's alone when we connect, and the notes say so.
#[cfg(unix)]
#[test]
fn opencode_connect_makes_a_shared_config_private_as_it_holds_the_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let c = case("opencode.json", Some("{}\n"));
    fs::set_permissions(&c.path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let setup = opencode::setup(
        c.path.clone(),
        &inputs(4242),
        &[sample_model()],
        OpencodeShape::V1,
    );
    assert!(
        setup.notes.iter().any(|n| n.contains("0600")),
        "{:?}",
        setup.notes
    );
    connect(&setup, &inputs(4242), &c.data, false, now()).expect("connects");
    assert!(fs::read_to_string(&c.path).expect("read").contains(KEY));
    let mode = fs::metadata(&c.path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "it holds the key");
}
