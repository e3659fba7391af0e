//! Loading, environment overrides, validation and saving of the settings.

use super::*;

fn tmp_paths() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::in_dir(dir.path().join("home"));
    (dir, paths)
}

fn write_settings(paths: &Paths, text: &str) {
    std::fs::create_dir_all(&paths.config_dir).unwrap();
    std::fs::write(paths.settings_file(), text).unwrap();
}

#[test]
fn env_treats_empty_as_unset_and_hides_values_in_debug() {
    let env = Env::from_pairs([
        ("A", "1"),
        ("EMPTY", ""),
        (ENV_ACCESS_TOKEN, "secret-token"),
    ]);
    assert_eq!(env.get("A"), Some("1"));
    assert_eq!(env.get("EMPTY"), None);
    assert_eq!(env.get("MISSING"), None);
    assert!(!format!("{env:?}").contains("secret-token"));
}

#[test]
fn home_override_puts_everything_in_one_directory() {
    let env = Env::from_pairs([(ENV_HOME, "/tmp/cb-home")]);
    let p = Paths::resolve(&env).unwrap();
    assert_eq!(p.config_dir, PathBuf::from("/tmp/cb-home"));
    assert_eq!(p.data_dir, p.config_dir);
    assert_eq!(p.log_dir, p.config_dir);
    assert_eq!(
        p.settings_file(),
        PathBuf::from("/tmp/cb-home/settings.toml")
    );
}

#[test]
fn os_directories_are_used_without_override() {
    // Reads (never writes) the real environment; only checks the shape.
    if let Ok(p) = Paths::resolve(&Env::default()) {
        assert_eq!(p.log_dir, p.data_dir.join("logs"));
        assert!(p.settings_file().ends_with("settings.toml"));
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::default();
    assert_eq!(s.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(s.port, 18741);
    assert_eq!(s.default_model, "auto");
    assert_eq!(s.api_url.as_str(), "https://api2.cursor.sh/");
    assert_eq!(s.login_url.as_str(), "https://cursor.com/");
    assert_eq!(s.client_version, "auto");
    assert!(s.ghost_mode);
    assert_eq!(s.credential_store, CredentialStoreKind::Keychain);
    assert_eq!(s.poll_policy(), PollPolicy::default());
    assert_eq!(s.refresh_margin(), Duration::from_secs(300));
    assert!(!s.allow_non_loopback && s.require_api_key && s.start_proxy_on_launch);
    assert_eq!(s.agent_transport, AgentTransport::Http2);
    assert_eq!(
        (s.max_body_bytes, s.parked_ttl_secs, s.max_parked_streams),
        (32 << 20, 600, 64)
    );
    assert_eq!(s.max_parked_bytes, 64 << 20);
    assert_eq!((s.header_read_timeout_secs, s.max_connections), (10, 256));
    assert_eq!(
        (
            s.conversation_store_max,
            s.conversation_store_max_bytes,
            s.conversation_store_ttl_hours,
            s.conversation_store_persist
        ),
        (256, 64 << 20, 24, true)
    );
    s.validate().unwrap();
}

#[test]
fn non_loopback_host_needs_the_explicit_opt_in() {
    let mut s = Settings {
        host: "0.0.0.0".parse().unwrap(),
        ..Settings::default()
    };
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.contains("host") && e.contains("allow_non_loopback"),
        "{e}"
    );
    s.allow_non_loopback = true;
    s.validate().unwrap();
    // Exposed without the key, anyone on the network could use the Cursor account.
    s.require_api_key = false;
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.contains("require_api_key") && e.contains("allow_non_loopback"),
        "{e}"
    );
}

#[test]
fn plain_http_is_accepted_only_to_a_loopback_host() {
    for url in [
        "http://127.0.0.1:9/",
        "http://localhost:8080",
        "http://[::1]:1",
        "https://api2.cursor.sh",
        "https://10.0.0.7",
    ] {
        let s = Settings {
            api_url: url.parse().unwrap(),
            login_url: url.parse().unwrap(),
            ..Settings::default()
        };
        s.validate().unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let s = Settings {
        login_url: "http://cursor.com".parse().unwrap(),
        ..Settings::default()
    };
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("login_url") && e.contains("clear text"), "{e}");
}

#[test]
fn missing_file_gives_defaults() {
    let (_d, paths) = tmp_paths();
    assert_eq!(
        Settings::load(&paths, &Env::default()).unwrap(),
        Settings::default()
    );
}

#[test]
fn file_values_are_read_and_others_default() {
    let (_d, paths) = tmp_paths();
    write_settings(
        &paths,
        "port = 9000\napi_url = \"http://127.0.0.1:4000/\"\nlogin_poll_factor = 2\ncredential_store = \"file\"\n",
    );
    let s = Settings::load(&paths, &Env::default()).unwrap();
    assert_eq!(s.port, 9000);
    assert_eq!(s.api_url.as_str(), "http://127.0.0.1:4000/");
    assert_eq!(s.login_poll_factor, 2.0);
    assert_eq!(s.default_model, "auto");
    assert_eq!(
        s.credentials_file_path(&paths),
        Some(paths.data_dir.join("credentials.json"))
    );
}

#[test]
fn unknown_key_is_an_error_naming_key_and_file() {
    let (_d, paths) = tmp_paths();
    write_settings(&paths, "port = 9000\nprot = 1\n");
    let msg = Settings::load(&paths, &Env::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("prot"), "{msg}");
    assert!(msg.contains("settings.toml"), "{msg}");
}

#[test]
fn bad_toml_type_names_the_key() {
    let (_d, paths) = tmp_paths();
    write_settings(&paths, "port = \"eighty\"\n");
    let msg = Settings::load(&paths, &Env::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("port"), "{msg}");
}

#[test]
fn env_overrides_win_over_the_file() {
    let (_d, paths) = tmp_paths();
    write_settings(&paths, "port = 9000\nclient_version = \"cli-a\"\n");
    let env = Env::from_pairs([
        (ENV_API_URL, "http://127.0.0.1:1234/base/"),
        (ENV_LOGIN_URL, "http://127.0.0.1:1235"),
        (ENV_PORT, "9100"),
        (ENV_CREDENTIALS_FILE, "/tmp/creds.json"),
        (ENV_CLIENT_VERSION, "cli-2099.01.01-abcdef0"),
        (ENV_AGENT_TRANSPORT, "http1"),
    ]);
    let s = Settings::load(&paths, &env).unwrap();
    assert_eq!(s.agent_transport, AgentTransport::Http1);
    assert_eq!(s.http_config().agent_transport, AgentTransport::Http1);
    assert_eq!(s.api_url.as_str(), "http://127.0.0.1:1234/base/");
    assert_eq!(s.login_url.as_str(), "http://127.0.0.1:1235/");
    assert_eq!(s.port, 9100);
    assert_eq!(s.credential_store, CredentialStoreKind::File);
    assert_eq!(
        s.credentials_file_path(&paths),
        Some(PathBuf::from("/tmp/creds.json"))
    );
    assert_eq!(s.client_version, "cli-2099.01.01-abcdef0");
    let http = s.http_config();
    assert_eq!(
        http.endpoints.api("auth/poll").as_str(),
        "http://127.0.0.1:1234/base/auth/poll"
    );
    assert_eq!(http.client_version.value(), "cli-2099.01.01-abcdef0");
}

#[test]
fn env_errors_name_the_variable() {
    let (_d, paths) = tmp_paths();
    for (var, value) in [
        (ENV_PORT, "http"),
        (ENV_PORT, "0"),
        (ENV_API_URL, "ftp://x"),
        (ENV_CLIENT_VERSION, "a b"),
        (ENV_AGENT_TRANSPORT, "http3"),
    ] {
        let msg = Settings::load(&paths, &Env::from_pairs([(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(var), "{var}={value}: {msg}");
    }
}

#[test]
fn validation_rejects_nonsense_and_names_key_and_file() {
    let (_d, paths) = tmp_paths();
    let cases = [
        ("port = 0", "port"),
        ("api_url = \"ftp://example.com\"", "api_url"),
        ("login_url = \"mailto:me@example.com\"", "login_url"),
        ("api_url = \"not a url\"", "api_url"),
        ("client_version = \"\"", "client_version"),
        ("client_version = \"cli 1\"", "client_version"),
        ("client_version = \"clié\"", "client_version"),
        ("login_poll_factor = 0.5", "login_poll_factor"),
        ("login_poll_initial_ms = 0", "login_poll_initial_ms"),
        (
            "login_poll_max_ms = 10\nlogin_poll_initial_ms = 20",
            "login_poll_max_ms",
        ),
        ("login_poll_max_attempts = 0", "login_poll_max_attempts"),
        ("login_poll_max_errors = 0", "login_poll_max_errors"),
        ("unary_timeout_secs = 0", "unary_timeout_secs"),
        ("idle_timeout_secs = 0", "idle_timeout_secs"),
        (
            "heartbeat_only_timeout_secs = 0",
            "heartbeat_only_timeout_secs",
        ),
        (
            "idle_timeout_secs = 300\nheartbeat_only_timeout_secs = 200",
            "heartbeat_only_timeout_secs",
        ),
        ("max_parked_bytes = 65535", "max_parked_bytes"),
        ("max_concurrent_runs = 0", "max_concurrent_runs"),
        (
            "conversation_store_max_bytes = 1024",
            "conversation_store_max_bytes",
        ),
        (
            "conversation_store_ttl_hours = 0",
            "conversation_store_ttl_hours",
        ),
        ("credential_store = \"plaintext\"", "credential_store"),
        ("agent_transport = \"http3\"", "agent_transport"),
        ("agent_transport = 1", "agent_transport"),
        // Tokens and the PKCE verifier must not cross a network in clear text.
        ("api_url = \"http://api2.cursor.sh\"", "api_url"),
        ("login_url = \"http://cursor.com/\"", "login_url"),
        ("api_url = \"http://10.0.0.7:8080\"", "api_url"),
        (
            "allow_non_loopback = true\nrequire_api_key = false",
            "require_api_key",
        ),
        ("max_connections = 0", "max_connections"),
        ("header_read_timeout_secs = 0", "header_read_timeout_secs"),
    ];
    for (text, key) in cases {
        write_settings(&paths, text);
        let msg = Settings::load(&paths, &Env::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(key), "{text}: {msg}");
        assert!(msg.contains("settings.toml"), "{text}: {msg}");
    }
}

#[test]
fn save_then_load_round_trips_atomically() {
    let (dir, paths) = tmp_paths();
    let mut s = Settings {
        port: 12345,
        credential_store: CredentialStoreKind::File,
        credentials_file: Some(dir.path().join("c.json")),
        login_poll_factor: 1.5,
        ..Settings::default()
    };
    s.save(&paths).unwrap();
    s.port = 12346;
    s.save(&paths).unwrap();
    assert_eq!(Settings::load(&paths, &Env::default()).unwrap(), s);
    let names: Vec<_> = std::fs::read_dir(&paths.config_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["settings.toml"], "no temp files left behind");
}

#[test]
fn agent_transport_reads_from_the_file_and_round_trips() {
    let (_d, paths) = tmp_paths();
    write_settings(&paths, "agent_transport = \"http1\"\n");
    let s = Settings::load(&paths, &Env::default()).unwrap();
    assert_eq!(s.agent_transport, AgentTransport::Http1);
    s.save(&paths).unwrap();
    let text = std::fs::read_to_string(paths.settings_file()).unwrap();
    assert!(text.contains("agent_transport = \"http1\""), "{text}");
    // The environment wins over the file.
    let env = Env::from_pairs([(ENV_AGENT_TRANSPORT, "HTTP2")]);
    assert_eq!(
        Settings::load(&paths, &env).unwrap().agent_transport,
        AgentTransport::Http2
    );
}

#[test]
fn poll_policy_follows_settings() {
    let s = Settings {
        login_poll_initial_ms: 5,
        login_poll_max_ms: 7,
        ..Settings::default()
    };
    let p = s.poll_policy();
    assert_eq!(p.initial, Duration::from_millis(5));
    assert_eq!(p.max_delay, Duration::from_millis(7));
    assert_eq!(p.max_attempts, 150);
    assert_eq!(p.max_consecutive_errors, 3);
}

#[test]
fn retry_settings_default_to_two_retries_and_are_bounded() {
    let p = Settings::default().retry_policy();
    assert_eq!((p.retries, p.backoff), (2, Duration::from_millis(250)));
    let (_d, paths) = tmp_paths();
    for (text, key) in [
        ("upstream_retries = 11", "upstream_retries"),
        ("retry_backoff_ms = 60001", "retry_backoff_ms"),
    ] {
        write_settings(&paths, text);
        let msg = Settings::load(&paths, &Env::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(key), "{text}: {msg}");
    }
    write_settings(&paths, "upstream_retries = 0\nretry_backoff_ms = 0\n");
    let p = Settings::load(&paths, &Env::default())
        .unwrap()
        .retry_policy();
    assert_eq!((p.retries, p.backoff), (0, Duration::ZERO));
}

#[test]
fn model_aliases_read_as_a_table_round_trip_and_are_checked() {
    let (_d, paths) = tmp_paths();
    write_settings(
        &paths,
        "port = 18742\n\n[model_aliases]\n\"claude-*haiku*\" = \"claude-4.5-sonnet\"\n\"gpt-6*\" = \"auto\"\n",
    );
    let s = Settings::load(&paths, &Env::default()).unwrap();
    assert_eq!(s.model_aliases.len(), 2);
    assert_eq!(s.model_aliases["claude-*haiku*"], "claude-4.5-sonnet");
    s.save(&paths).unwrap();
    assert_eq!(Settings::load(&paths, &Env::default()).unwrap(), s);
    assert!(Settings::default().model_aliases.is_empty());
    for (pattern, target) in [("", "auto"), ("claude *", "auto"), ("claude-*", " ")] {
        let s = Settings {
            model_aliases: [(pattern.to_string(), target.to_string())].into(),
            ..Settings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("model_aliases"), "{e}");
    }
}
