//! `cursor-bridge connect|disconnect <client>` and `key` end to end, run as a user runs
//! them: a throw-away HOME holding the user's own configs (unrelated settings, comments),
//! the real binary, the fake Cursor for OpenCode's live model list. Everything outside
//! our block must stay byte for byte; a dry run writes nothing; a second connect writes
//! nothing; disconnect puts the original back exactly; a malformed config is refused and
//! left alone.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

use cursor_bridge_tests::FakeCursor;

use common::{Sandbox, session};

const WAIT: Duration = Duration::from_secs(20);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn run(mut cmd: Command) -> Out {
    let out = timeout(WAIT, cmd.output())
        .await
        .expect("cursor-bridge exits in time")
        .expect("runs");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Out {
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{}\n{}", self.stdout, self.stderr);
        self
    }
}

fn user_home(sb: &Sandbox) -> PathBuf {
    sb.dir.path().join("user-home")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file under `dir`, by name.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    n.sort();
    n
}

/// Claude Code reads strict JSON (a comment makes it ignore the file): the user's own
/// layout — spacing, key order, an inline array — is what must survive.
const CLAUDE_SETTINGS: &str = r#"{
  "permissions": {
    "allow": [ "Bash(git status:*)",   "Read" ]
  },
  "includeCoAuthoredBy": false,
  "theme": "dark"
}
"#;

#[tokio::test]
async fn claude_code_connect_dry_run_idempotence_and_exact_disconnect() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let dir = user_home(&sb).join(".claude");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let settings = dir.join("settings.json");
    std::fs::write(&settings, CLAUDE_SETTINGS).expect("write");

    // Dry run: the diff on stdout, nothing written anywhere.
    let before = sb.files();
    let dry = run(sb.cmd(&["connect", "claude-code", "--dry-run", "--port", "4242"])).await;
    dry.ok();
    assert!(
        dry.stdout
            .starts_with(&format!("--- {}\n", settings.display())),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("+    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:4242\"\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("+  \"apiKeyHelper\": \"'"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("was not changed"));
    assert_eq!(read(&settings), CLAUDE_SETTINGS);
    let after_dry: Vec<_> = sb
        .files()
        .into_iter()
        .filter(|p| !p.ends_with("local-api-key"))
        .collect();
    assert_eq!(
        after_dry, before,
        "a dry run writes nothing but the key it reads"
    );

    let out = run(sb.cmd(&["connect", "claude-code", "--port", "4242"])).await;
    out.ok();
    assert!(
        out.stdout.contains("Backup of the previous file"),
        "{}",
        out.stdout
    );
    let text = read(&settings);
    // Byte for byte outside our block: take our block (and the comma before it) out and
    // the user's file is what remains.
    let ours = format!(
        ",\n  \"env\": {{\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:4242\"\n  }},\n  \"apiKeyHelper\": \"'{}' key\"",
        common::BIN
    );
    assert_eq!(text.matches(&ours).count(), 1, "{text}");
    assert_eq!(text.replace(&ours, ""), CLAUDE_SETTINGS, "{text}");
    let key = sb.local_key();
    assert!(
        !text.contains(&key),
        "the helper prints the key; the file holds none"
    );
    // The helper is this binary's `key` command, and it prints the proxy's key.
    let helper = text
        .lines()
        .find_map(|l| l.strip_prefix("  \"apiKeyHelper\": \"'"))
        .and_then(|l| l.strip_suffix("' key\""))
        .expect("apiKeyHelper line");
    assert_eq!(helper, common::BIN);
    let printed = run(sb.cmd(&["key"])).await;
    assert_eq!(printed.ok().stdout, format!("{key}\n"));

    let backups: Vec<_> = names(&dir)
        .into_iter()
        .filter(|n| n.contains(".bak-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(read(&dir.join(&backups[0])), CLAUDE_SETTINGS);

    // Again: no duplicate block, no second backup.
    let again = run(sb.cmd(&["connect", "claude-code", "--port", "4242"])).await;
    assert!(
        again.ok().stdout.contains("nothing written"),
        "{}",
        again.stdout
    );
    assert_eq!(read(&settings), text);
    assert_eq!(names(&dir).len(), 2);

    let undo = run(sb.cmd(&["disconnect", "claude-code"])).await;
    assert!(undo.ok().stdout.contains("Restored"), "{}", undo.stdout);
    assert_eq!(read(&settings), CLAUDE_SETTINGS);

    for o in [&dry, &out, &again, &undo] {
        assert!(!format!("{}{}", o.stdout, o.stderr).contains(&key));
    }
}

const CODEX_CONFIG: &str = r#"# Codex, my way
model = "gpt-6.1-sol"  # keep
approval_policy = "on-request"

[mcp_servers.docs]
command = "docs-mcp"   # a local server
args = ["--stdio"]
"#;

#[tokio::test]
async fn codex_connect_under_codex_home_keeps_comments_and_set_default_is_undone() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let home = sb.dir.path().join("codex-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let config = home.join("config.toml");
    std::fs::write(&config, CODEX_CONFIG).expect("write");
    let cmd = |args: &[&str]| {
        let mut c = sb.cmd(args);
        c.env("CODEX_HOME", &home);
        c
    };

    let out = run(cmd(&["connect", "codex", "--port", "4243"])).await;
    out.ok();
    let text = read(&config);
    assert!(
        text.starts_with(CODEX_CONFIG),
        "the user's text comes first, untouched:\n{text}"
    );
    let added = &text[CODEX_CONFIG.len()..];
    assert!(
        added.starts_with("\n[model_providers.cursor-bridge]\nname = \"Cursor (via Cursor Bridge)\"\nbase_url = \"http://127.0.0.1:4243/v1\"\nwire_api = \"responses\"\n\n[model_providers.cursor-bridge.auth]\n"),
        "{added}"
    );
    assert!(
        added.contains(&format!(
            "command = \"{}\"\nargs = [\"key\"]\n",
            common::BIN
        )),
        "{added}"
    );
    assert!(
        out.stdout
            .contains("codex -c model_provider=cursor-bridge -m auto"),
        "{}",
        out.stdout
    );

    let default = run(cmd(&[
        "connect",
        "codex",
        "--port",
        "4243",
        "--set-default",
    ]))
    .await;
    default.ok();
    let text = read(&config);
    assert!(text.starts_with("# Codex, my way\nmodel = \"auto\"  # keep\napproval_policy = \"on-request\"\nmodel_provider = \"cursor-bridge\"\n"), "{text}");
    assert_eq!(text.matches("[model_providers.cursor-bridge]").count(), 1);

    let undo = run(cmd(&["disconnect", "codex"])).await;
    undo.ok();
    assert_eq!(read(&config), CODEX_CONFIG, "{}", undo.stdout);
}

#[tokio::test]
async fn a_malformed_config_is_refused_untouched_and_without_backup() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let dir = user_home(&sb).join(".claude");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let settings = dir.join("settings.json");
    // A comment: Claude Code itself would ignore this file as malformed JSON.
    let broken = "{\n  // mine\n  \"env\": { \"A\": \"1\" }\n}\n";
    std::fs::write(&settings, broken).expect("write");
    let out = run(sb.cmd(&["connect", "claude-code"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&settings.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("not valid JSON") && out.stderr.contains("not modified"),
        "{}",
        out.stderr
    );
    assert_eq!(read(&settings), broken);
    assert_eq!(names(&dir), ["settings.json"]);
    assert!(!sb.home().join("connections.json").exists());

    let codex_dir = user_home(&sb).join(".codex");
    std::fs::create_dir_all(&codex_dir).expect("mkdir");
    std::fs::write(codex_dir.join("config.toml"), "model_providers = 3\n").expect("write");
    let out = run(sb.cmd(&["connect", "codex"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`model_providers` is a number, not an object"),
        "{}",
        out.stderr
    );
    assert_eq!(
        read(&codex_dir.join("config.toml")),
        "model_providers = 3\n"
    );

    let none = run(sb.cmd(&["disconnect", "codex"])).await;
    assert!(
        none.ok().stdout.contains("not connected"),
        "{}",
        none.stdout
    );
}

const OPENCODE_CONFIG: &str = r#"// my OpenCode config
{
  "$schema": "https://opencode.ai/config.json",
  "model": "ollama/llama3", // the default
  "provider": {
    "ollama": { "npm": "@ai-sdk/openai-compatible", "models": { "llama3": {} } },
  },
}
"#;

#[tokio::test]
async fn opencode_connect_in_both_shapes_and_disconnect_restores_the_file() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let file = sb.dir.path().join("oc").join("my-opencode.jsonc");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, OPENCODE_CONFIG).expect("write");
    let cmd = |args: &[&str]| {
        let mut c = sb.cmd(args);
        c.env("OPENCODE_CONFIG", &file);
        c
    };

    // No opencode on PATH: the 1.x shape, which 2.x reads too.
    run(cmd(&["connect", "opencode", "--port", "4244"]))
        .await
        .ok();
    let v: serde_json::Value =
        jsonc_parser::parse_to_serde_value(&read(&file), &Default::default()).expect("JSONC");
    let p = &v["provider"]["cursor-bridge"];
    assert_eq!(p["npm"], "@ai-sdk/openai-compatible");
    assert_eq!(p["options"]["baseURL"], "http://127.0.0.1:4244/v1");
    assert!(read(&file).contains("\"model\": \"ollama/llama3\", // the default\n"));

    let v2 = run(cmd(&[
        "connect",
        "opencode",
        "--port",
        "4244",
        "--opencode-shape",
        "v2",
    ]))
    .await;
    v2.ok();
    let v: serde_json::Value =
        jsonc_parser::parse_to_serde_value(&read(&file), &Default::default()).expect("JSONC");
    assert!(
        v["provider"].get("cursor-bridge").is_none(),
        "one copy only: {v:#}"
    );
    let p = &v["providers"]["cursor-bridge"];
    assert_eq!(p["package"], "aisdk:@ai-sdk/openai-compatible");
    assert_eq!(p["settings"]["baseURL"], "http://127.0.0.1:4244/v1");
    assert!(
        p["models"]["auto"]["limit"]["context"]
            .as_u64()
            .is_some_and(|c| c > 0)
    );

    run(cmd(&["disconnect", "opencode"])).await.ok();
    assert_eq!(read(&file), OPENCODE_CONFIG);
}

#[tokio::test]
async fn connect_disconnect_and_key_have_help_and_refuse_an_unknown_tool() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    for (args, purpose) in [
        (
            &["connect", "--help"][..],
            "Point a coding tool at this proxy",
        ),
        (&["disconnect", "--help"][..], "Undo `connect`"),
        (&["key", "--help"][..], "Print the local API key"),
    ] {
        let out = run(sb.cmd(args)).await;
        out.ok();
        assert!(
            out.stdout.contains(purpose) && out.stdout.contains("Usage:"),
            "{}",
            out.stdout
        );
    }
    let help = run(sb.cmd(&["connect", "--help"])).await;
    for option in [
        "--dry-run",
        "--write",
        "--set-default",
        "--opencode-shape",
        "claude-code",
    ] {
        assert!(help.stdout.contains(option), "{option}: {}", help.stdout);
    }
    let unknown = run(sb.cmd(&["connect", "crush"])).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("crush"), "{}", unknown.stderr);
    assert!(sb.files().iter().all(|p| !p.ends_with("connections.json")));
}

/// `--write PATH` on a symlink that leads out of its directory (as one planted in a
/// shared config directory would) is refused, naming the target, with nothing written;
/// `--follow-symlink` edits the target and says where it went. A link within the same
/// directory is followed as before.
#[cfg(unix)]
#[tokio::test]
async fn a_symlink_out_of_the_config_directory_is_followed_only_when_asked() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let dir = user_home(&sb).join(".claude");
    let (link, target) = sb.link_out(&dir, "settings.json");
    let elsewhere = target.parent().expect("parent").to_path_buf();
    let write = link.display().to_string();

    let refused = run(sb.cmd(&["connect", "claude-code", "--write", &write])).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let resolved = std::fs::canonicalize(&target).expect("canonical");
    assert!(
        refused.stderr.contains("--follow-symlink")
            && refused.stderr.contains(&resolved.display().to_string()),
        "{}",
        refused.stderr
    );
    assert_eq!(read(&target), "{}\n", "nothing written");
    assert_eq!(names(&elsewhere), ["settings.json"], "no backup either");

    let followed = run(sb.cmd(&[
        "connect",
        "claude-code",
        "--write",
        &write,
        "--follow-symlink",
    ]))
    .await;
    followed.ok();
    assert!(
        followed
            .stdout
            .contains(&format!("{write} is a symlink to {}", resolved.display())),
        "{}",
        followed.stdout
    );
    assert!(read(&target).contains("ANTHROPIC_BASE_URL"));
    assert!(link.is_symlink(), "the link itself stays");

    // Within its own directory (a versioned name, say) a link is fine without the flag.
    let inner = dir.join("settings.v2.json");
    std::fs::write(&inner, "{}\n").expect("write");
    let near = dir.join("near.json");
    std::os::unix::fs::symlink("settings.v2.json", &near).expect("symlink");
    let near = near.display().to_string();
    run(sb.cmd(&["connect", "claude-code", "--write", &near]))
        .await
        .ok();
    assert!(read(&inner).contains("ANTHROPIC_BASE_URL"));
}
