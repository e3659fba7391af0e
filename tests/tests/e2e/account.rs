//! Sign-in, token refresh, models and plan usage end to end against the fake Cursor,
//! through the same `CursorClient` the CLI and the tray app use.

use crate::common;

use std::time::Duration;

use common::Harness;
use cursor_bridge_core::config::settings::{Paths, Settings};
use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::auth::{self, LoginError, Pkce, PollPolicy, RefreshRoute};
use cursor_bridge_core::cursor::models::LimitSource;
use cursor_bridge_core::cursor::usage::Pool;
use cursor_bridge_core::store::credentials::Credentials;
use cursor_bridge_tests::{FakeCursor, FakeUsage};
use tokio_util::sync::CancellationToken;

fn fast_poll() -> PollPolicy {
    PollPolicy {
        initial: Duration::from_millis(10),
        factor: 1.2,
        max_delay: Duration::from_millis(50),
        max_attempts: 200,
        max_consecutive_errors: 3,
    }
}

/// Plays the user's browser: opens the login page and submits its Approve form.
async fn approve_in_browser(url: &str) {
    let http = reqwest::Client::new();
    let page = http
        .get(url)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("page body");
    let action = attr(&page, "action").expect("form action");
    let base = url::Url::parse(url).expect("login URL");
    let fields: Vec<(String, String)> = page
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect();
    let resp = http
        .post(base.join(&action).expect("form action URL"))
        .form(&fields)
        .send()
        .await
        .expect("approve");
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.status()
    );
}

fn attr(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("{name}=\""))? + name.len() + 2;
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn browser_login_end_to_end_with_pkce_checked() {
    let h = Harness::new(FakeCursor::builder().start().await).await;
    let http = h.client.http().clone();
    let pkce = Pkce::generate();
    let url = auth::login_url(http.endpoints(), &pkce);
    assert!(
        url.as_str()
            .contains(&format!("challenge={}", pkce.challenge))
    );
    assert!(
        !url.as_str().contains(&pkce.verifier),
        "the verifier never leaves the machine before the poll"
    );

    // Start polling before the user approves, as the CLI does.
    let poll = tokio::spawn({
        let http = http.clone();
        let pkce = pkce.clone();
        async move { auth::poll_login(&http, &pkce, &fast_poll(), &CancellationToken::new()).await }
    });
    assert!(
        h.fake
            .wait_until(Duration::from_secs(5), |f| f.poll_count() >= 2)
            .await,
        "polled while pending"
    );
    approve_in_browser(url.as_str()).await;
    let creds = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap()
        .expect("signed in");
    assert!(h.fake.is_valid_access_token(&creds.access_token));
    assert!(creds.refresh_token.is_some());
    assert_eq!(h.fake.pkce_mismatches(), 0);

    h.client.tokens().sign_in(creds).await.unwrap();
    assert_eq!(h.client.account().await.unwrap().email, "dev@example.com");
}

#[tokio::test]
async fn a_poll_with_the_wrong_verifier_is_refused() {
    let h = Harness::new(FakeCursor::builder().start().await).await;
    let pkce = Pkce::generate();
    approve_in_browser(auth::login_url(h.client.http().endpoints(), &pkce).as_str()).await;
    let mut forged = Pkce::generate();
    forged.uuid = pkce.uuid.clone();
    let err = auth::poll_login(
        h.client.http(),
        &forged,
        &fast_poll(),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoginError::Failed(_)), "{err:?}");
    assert!(h.fake.pkce_mismatches() >= 1);
}

#[tokio::test]
async fn login_can_be_cancelled_while_waiting() {
    let h = Harness::new(FakeCursor::builder().start().await).await;
    let cancel = CancellationToken::new();
    let pkce = Pkce::generate();
    let poll = tokio::spawn({
        let (http, cancel) = (h.client.http().clone(), cancel.clone());
        async move { auth::poll_login(&http, &pkce, &fast_poll(), &cancel).await }
    });
    assert!(
        h.fake
            .wait_until(Duration::from_secs(5), |f| f.poll_count() >= 1)
            .await
    );
    cancel.cancel();
    let res = tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .expect("cancel is prompt")
        .unwrap();
    assert!(matches!(res, Err(LoginError::Cancelled)));
}

#[tokio::test]
async fn api_key_login() {
    let fake = FakeCursor::builder().api_key("key_user_123").start().await;
    let h = Harness::new(fake).await;
    let creds = auth::exchange_api_key(h.client.http(), "key_user_123")
        .await
        .unwrap();
    assert!(h.fake.is_valid_access_token(&creds.access_token));
    assert_eq!(creds.api_key.as_deref(), Some("key_user_123"));
    let err = auth::exchange_api_key(h.client.http(), "key_wrong")
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
}

/// The bar: one refresh for 20 concurrent callers with an expiring token.
#[tokio::test]
async fn twenty_concurrent_callers_share_one_refresh() {
    let fake = FakeCursor::builder()
        .refresh_delay(Duration::from_millis(200))
        .start()
        .await;
    let h = Harness::with_expired_token(fake).await;
    let calls = (0..20).map(|_| {
        let client = h.client.clone();
        tokio::spawn(async move { client.models().await.map(|m| m.len()) })
    });
    for c in futures::future::join_all(calls).await {
        assert!(c.unwrap().unwrap() >= 3);
    }
    assert_eq!(h.fake.refresh_calls(), 1, "exactly one refresh");
    let stored = h.client.tokens().current().await.unwrap().unwrap();
    assert!(
        h.fake.is_valid_access_token(&stored.access_token),
        "the fresh token is persisted"
    );
    // Every call Cursor saw carried a valid token: nobody used the expired one.
    let expired_uses = h
        .fake
        .unary_calls()
        .iter()
        .filter(|c| c.status == 401)
        .count();
    assert_eq!(expired_uses, 0);
}

/// A client built from settings as the CLI builds it, with `settings_toml` written to its
/// settings file first, signed in with an expired access token and a good refresh token.
async fn expired_with_settings(fake: FakeCursor, settings_toml: &str) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("settings.toml"), settings_toml).expect("settings file");
    let env = common::env_for(&fake.url(), dir.path());
    let paths = Paths::resolve(&env).expect("paths");
    let settings = Settings::load(&paths, &env).expect("settings");
    let client =
        cursor_bridge_core::wiring::cursor_client(&settings, &paths, &env).expect("client");
    let creds = Credentials {
        access_token: fake.mint_expired_token(),
        refresh_token: Some(fake.mint_refresh_token()),
        api_key: None,
    };
    client.tokens().sign_in(creds).await.expect("sign in");
    Harness {
        fake,
        client,
        dir,
        env,
    }
}

/// Makes Cursor refuse the current access token, so the next call refreshes once more.
async fn force_second_refresh(h: &Harness) {
    h.fake.revoke_access_tokens();
    h.client
        .account()
        .await
        .expect("refreshed again after a 401");
}

#[tokio::test]
async fn a_browser_login_refreshes_through_the_exchange_first() {
    let h = Harness::with_expired_token(FakeCursor::builder().start().await).await;
    let token = h.client.tokens().access_token().await.unwrap();
    assert!(h.fake.is_valid_access_token(&token));
    assert_eq!(h.fake.exchange_refresh_calls(), 1);
    assert_eq!(h.fake.oauth_calls(), 0);
    let call = h
        .fake
        .unary_calls()
        .into_iter()
        .find(|c| c.path == "/auth/exchange_user_api_key")
        .expect("the exchange was called");
    let stored = h.client.tokens().current().await.unwrap().unwrap();
    assert_eq!(
        call.header("authorization").map(str::to_string),
        stored.refresh_token.as_ref().map(|t| format!("Bearer {t}")),
        "the refresh token is the bearer"
    );
}

#[tokio::test]
async fn refresh_falls_back_to_oauth_token_after_a_4xx_and_remembers_it() {
    let fake = FakeCursor::builder()
        .exchange_refresh_disabled()
        .start()
        .await;
    let h = Harness::with_expired_token(fake).await;
    let token = h.client.tokens().access_token().await.unwrap();
    assert!(h.fake.is_valid_access_token(&token));
    assert_eq!(
        (h.fake.exchange_refresh_calls(), h.fake.oauth_calls()),
        (1, 1)
    );
    assert_eq!(h.client.tokens().refresh_route(), RefreshRoute::Oauth);
    force_second_refresh(&h).await;
    assert_eq!(
        (h.fake.exchange_refresh_calls(), h.fake.oauth_calls()),
        (1, 2),
        "the second refresh goes straight to the route that worked"
    );
}

#[tokio::test]
async fn refresh_falls_back_to_the_exchange_when_oauth_token_is_missing_and_remembers_it() {
    let fake = FakeCursor::builder().oauth_token_disabled().start().await;
    let h = expired_with_settings(fake, "refresh_route = \"oauth\"\n").await;
    assert_eq!(h.client.tokens().refresh_route(), RefreshRoute::Oauth);
    let token = h.client.tokens().access_token().await.unwrap();
    assert!(h.fake.is_valid_access_token(&token));
    assert_eq!(
        (h.fake.oauth_calls(), h.fake.exchange_refresh_calls()),
        (1, 1)
    );
    force_second_refresh(&h).await;
    assert_eq!(
        (h.fake.oauth_calls(), h.fake.exchange_refresh_calls()),
        (1, 2),
        "the second refresh goes straight to the route that worked"
    );
}

#[tokio::test]
async fn refresh_refused_on_both_routes_means_sign_in_again() {
    let fake = FakeCursor::builder()
        .exchange_refresh_disabled()
        .oauth_token_disabled()
        .start()
        .await;
    let h = Harness::with_expired_token(fake).await;
    let err = h.client.plan_usage().await.unwrap_err();
    assert!(matches!(err, CursorError::SessionExpired), "{err:?}");
    assert_eq!(
        (h.fake.exchange_refresh_calls(), h.fake.oauth_calls()),
        (1, 1)
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_means_sign_in_again() {
    let h = Harness::with_expired_token(FakeCursor::builder().start().await).await;
    h.fake.revoke_refresh_tokens();
    let err = h.client.plan_usage().await.unwrap_err();
    assert!(matches!(err, CursorError::SessionExpired), "{err:?}");
}

#[tokio::test]
async fn models_come_with_limits_and_reasoning_flags() {
    let h = Harness::signed_in(FakeCursor::builder().start().await).await;
    let models = h.client.models().await.unwrap();
    let by_id = |id: &str| {
        models
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    let auto = by_id("auto");
    assert_eq!(
        auto.wire_id, "default",
        "auto is Cursor's default routing on the wire"
    );
    let gpt = by_id("gpt-5.1");
    assert_eq!(
        (gpt.context_limit, gpt.limit_source),
        (400_000, LimitSource::Cursor)
    );
    assert!(gpt.output_limit > 0);
    assert!(by_id("claude-4.5-sonnet-thinking").reasoning);
    assert!(!by_id("claude-4.5-sonnet").reasoning);
    assert_eq!(by_id("gemini-3-pro").context_limit, 1_048_576);
    // Cached: a second call does not hit Cursor again.
    let calls = h.fake.models_calls();
    h.client.models().await.unwrap();
    assert_eq!(h.fake.models_calls(), calls);
    // Every unary call identified us the same way.
    for c in h.fake.unary_calls() {
        assert_eq!(c.header("x-cursor-client-type"), Some("cli"), "{}", c.path);
        assert_eq!(
            c.header("connect-protocol-version"),
            Some("1"),
            "{}",
            c.path
        );
    }
}

#[tokio::test]
async fn plan_usage_and_account() {
    let mut usage = FakeUsage::default();
    usage.plan.total_spend = Some(1_234);
    usage.plan.remaining = Some(766);
    usage.display_message = "You have used 62% of your plan".into();
    let h = Harness::signed_in(FakeCursor::builder().usage(usage.clone()).start().await).await;
    let u = h.client.plan_usage().await.unwrap();
    assert_eq!(u.billing_cycle_start, usage.billing_cycle_start_ms);
    assert_eq!(u.billing_cycle_end, usage.billing_cycle_end_ms);
    let plan = u.plan_usage.unwrap();
    assert_eq!((plan.total_spend, plan.remaining), (Some(1_234), Some(766)));
    assert!(!plan.has_pools(), "the older shape has no pools");
    assert_eq!(u.display_message, "You have used 62% of your plan");
    let me = h.client.account().await.unwrap();
    assert_eq!(me.email, "dev@example.com");
}

#[tokio::test]
async fn plan_usage_in_two_pools_with_percentages_and_no_cents() {
    let usage = FakeUsage::percent_only(62.5, 40.0, 97.25);
    let h = Harness::signed_in(FakeCursor::builder().usage(usage).start().await).await;
    let u = h.client.plan_usage().await.unwrap();
    let plan = u.plan_usage.clone().expect("planUsage");
    assert_eq!((plan.total_spend, plan.limit), (None, None));
    assert_eq!(plan.pool_percent(Pool::Auto), Some(40.0));
    assert_eq!(plan.pool_percent(Pool::Api), Some(97.25));
    let ipc = cursor_bridge_core::app::PlanUsage::from_cursor(&u, 0);
    assert_eq!(ipc.total_percent_used, Some(62.5));
    assert_eq!(
        (ipc.spent_cents, ipc.included_cents, ipc.remaining_cents),
        (None, None, None),
        "absent cents stay absent, never 0 of 0"
    );
    let pools: Vec<_> = ipc
        .pools
        .iter()
        .map(|p| (p.id.as_str(), p.percent_used))
        .collect();
    assert_eq!(pools, [("auto", Some(40.0)), ("api", Some(97.25))]);
}

#[tokio::test]
async fn unary_errors_are_typed() {
    let h = Harness::signed_in(FakeCursor::builder().start().await).await;
    h.fake.fail_unary(
        "/aiserver.v1.DashboardService/GetCurrentPeriodUsage",
        503,
        "unavailable",
        "maintenance",
        None,
    );
    assert!(matches!(
        h.client.plan_usage().await.unwrap_err(),
        CursorError::Unavailable { .. }
    ));
    h.fake.fail_unary(
        "/aiserver.v1.DashboardService/GetMe",
        429,
        "resource_exhausted",
        "slow down",
        Some(1),
    );
    assert!(matches!(
        h.client.account().await.unwrap_err(),
        CursorError::Quota { .. }
    ));
    assert!(h.client.account().await.is_ok(), "the failure was one-off");
}

#[tokio::test]
async fn an_unreachable_cursor_is_a_network_error() {
    // A socket bound to a port but not listening, held until the test ends: connecting to it
    // is refused, and no other test can take the port meanwhile (a listener bound and
    // dropped would leave the port free for anyone).
    let refusing = tokio::net::TcpSocket::new_v4().unwrap();
    refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = refusing.local_addr().unwrap().port();
    let fake = FakeCursor::builder().start().await;
    let h = Harness::signed_in(fake).await;
    let env = common::env_for(&format!("http://127.0.0.1:{port}"), h.dir.path());
    let paths = cursor_bridge_core::config::settings::Paths::resolve(&env).unwrap();
    let settings = cursor_bridge_core::config::settings::Settings::load(&paths, &env).unwrap();
    let client = cursor_bridge_core::wiring::cursor_client(&settings, &paths, &env).unwrap();
    let err = client.account().await.unwrap_err();
    assert!(matches!(err, CursorError::Network(_)), "{err:?}");
    drop(refusing);
}
