//! PKCE, the login URL, the poll cadence, JWT decoding, browser-login polling, API keys.

use super::*;

// ---- PKCE, URL, cadence, JWT ----

#[test]
fn pkce_challenge_matches_rfc_7636_appendix_b() {
    // The value printed in RFC 7636 appendix B (also what Python's hashlib gives).
    assert_eq!(
        challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn pkce_shape() {
    let url_safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let a = Pkce::generate();
    let b = Pkce::generate();
    assert_ne!(a.verifier, b.verifier);
    assert_ne!(a.uuid, b.uuid);
    assert_eq!(a.verifier.len(), 43);
    assert_eq!(a.challenge.len(), 43);
    assert!(url_safe(&a.verifier) && url_safe(&a.challenge));
    assert_eq!(a.challenge, challenge_for(&a.verifier));
    let u = uuid::Uuid::parse_str(&a.uuid).unwrap();
    assert_eq!(u.get_version_num(), 4);
    assert_eq!(a.uuid, a.uuid.to_lowercase());
    assert_eq!(a.uuid.len(), 36);
}

#[test]
fn pkce_debug_hides_the_verifier() {
    let p = Pkce::generate();
    let text = format!("{p:?}");
    assert!(!text.contains(&p.verifier), "{text}");
    assert!(text.contains(&p.uuid));
}

#[test]
fn login_url_carries_every_parameter() {
    let p = Pkce::generate();
    let endpoints = Endpoints {
        api: Url::parse("https://api2.cursor.sh").unwrap(),
        login: Url::parse("https://cursor.com").unwrap(),
    };
    let url = login_url(&endpoints, &p);
    assert_eq!(
        url.as_str(),
        format!(
            "https://cursor.com/loginDeepControl?challenge={}&uuid={}&mode=login&redirectTarget=cli",
            p.challenge, p.uuid
        )
    );
    assert!(!url.as_str().contains(&p.verifier));
}

#[test]
fn poll_delays_follow_the_official_cadence() {
    let p = PollPolicy::default();
    let ms: Vec<u128> = (0..15).map(|n| p.delay(n).as_millis()).collect();
    assert_eq!(
        ms,
        [
            1000, 1200, 1440, 1728, 2073, 2488, 2985, 3583, 4299, 5159, 6191, 7430, 8916, 10000,
            10000
        ]
    );
    assert_eq!(p.delay(u32::MAX), Duration::from_secs(10));
    let first13: f64 = (0..13).map(|n| p.delay(n).as_secs_f64()).sum();
    assert!((first13 - 48.5).abs() < 0.1, "{first13}");
    let total: f64 = (0..p.max_attempts).map(|n| p.delay(n).as_secs_f64()).sum();
    assert!((total / 60.0 - 23.6).abs() < 0.1, "{total}");
}

#[test]
fn jwt_decoding() {
    let t = jwt(1_900_000_000, "a");
    let c = decode_jwt(&t).unwrap();
    assert_eq!(c.exp, Some(1_900_000_000));
    assert_eq!(c.sub.as_deref(), Some("auth0|user_01TEST"));
    assert_eq!(c.user_id(), Some("user_01TEST"));
    assert_eq!(c.token_type.as_deref(), Some("session"));
    assert_eq!(
        expires_at(&t),
        Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
    );

    // Padded payloads and float expiries are tolerated.
    let padded_payload = base64::engine::general_purpose::URL_SAFE.encode(br#"{"exp":1.5e9}"#);
    assert_eq!(
        decode_jwt(&format!("h.{padded_payload}.s")).unwrap().exp,
        Some(1_500_000_000)
    );

    for garbage in ["", "abc", "a.b.c", "a.!!!.c", "a.e30", "a.bnVsbA.c"] {
        assert_eq!(expires_at(garbage), None, "{garbage}");
    }
    assert_eq!(
        decode_jwt("a.e30.c"),
        Some(JwtClaims::default()),
        "{{}} has no exp"
    );
}

// ---- browser-login polling ----

#[tokio::test]
async fn poll_waits_through_404_then_returns_tokens() {
    let poll = Route::new(|n| {
        if n < 2 {
            Reply::Now(404, String::new())
        } else {
            json(
                200,
                serde_json::json!({"accessToken": "at", "refreshToken": "rt", "authId": "auth0|user_1"}),
            )
        }
    });
    let fake = Fake::start(poll, Route::missing(), Route::missing()).await;
    let pkce = Pkce::generate();
    let creds = poll_fast(&fake.http, &pkce).await.unwrap();
    assert_eq!(creds, session("at".into(), Some("rt")));
    assert_eq!(fake.poll.calls(), 3);
    let seen = fake.poll.last();
    let query = seen.query.unwrap();
    assert!(query.contains(&format!("uuid={}", pkce.uuid)), "{query}");
    assert!(
        query.contains(&format!("verifier={}", pkce.verifier)),
        "{query}"
    );
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["x-cursor-client-type"], "cli");
}

#[tokio::test]
async fn poll_gives_up_after_consecutive_errors() {
    let fake = Fake::start(
        Route::new(|_| Reply::Now(500, "boom".into())),
        Route::missing(),
        Route::missing(),
    )
    .await;
    let err = poll_fast(&fake.http, &Pkce::generate()).await.unwrap_err();
    assert!(
        matches!(
            err,
            LoginError::Failed(CursorError::Http { status: 500, .. })
        ),
        "{err:?}"
    );
    assert_eq!(fake.poll.calls(), 3);
}

#[tokio::test]
async fn poll_404_resets_the_error_count() {
    let poll = Route::new(|n| match n {
        0 | 1 | 3 | 4 => Reply::Now(502, String::new()),
        2 => Reply::Now(404, String::new()),
        _ => json(
            200,
            serde_json::json!({"accessToken": "at", "refreshToken": "rt"}),
        ),
    });
    let fake = Fake::start(poll, Route::missing(), Route::missing()).await;
    let creds = poll_fast(&fake.http, &Pkce::generate()).await;
    assert_eq!(creds.unwrap().access_token, "at");
    assert_eq!(fake.poll.calls(), 6);
}

#[tokio::test]
async fn poll_times_out_after_max_attempts() {
    let fake = Fake::start(
        Route::new(|_| Reply::Now(404, String::new())),
        Route::missing(),
        Route::missing(),
    )
    .await;
    let policy = PollPolicy {
        max_attempts: 5,
        ..fast_policy()
    };
    let err = poll_login(
        &fake.http,
        &Pkce::generate(),
        &policy,
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LoginError::TimedOut { attempts: 5 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("run login again"));
    assert_eq!(fake.poll.calls(), 5);
}

#[tokio::test]
async fn poll_cancels_during_a_request() {
    let fake = Fake::start(
        Route::new(|_| Reply::Hang),
        Route::missing(),
        Route::missing(),
    )
    .await;
    let cancel = CancellationToken::new();
    let pkce = Pkce::generate();
    let task = {
        let (http, cancel) = (fake.http.clone(), cancel.clone());
        tokio::spawn(async move { poll_login(&http, &pkce, &fast_policy(), &cancel).await })
    };
    fake.poll.entered.notified().await;
    cancel.cancel();
    assert!(matches!(task.await.unwrap(), Err(LoginError::Cancelled)));
}

#[tokio::test]
async fn poll_cancels_during_a_sleep() {
    let fake = Fake::start(
        Route::new(|_| Reply::Now(404, String::new())),
        Route::missing(),
        Route::missing(),
    )
    .await;
    let cancel = CancellationToken::new();
    let policy = PollPolicy {
        initial: Duration::from_secs(3600),
        max_delay: Duration::from_secs(3600),
        ..fast_policy()
    };
    let task = {
        let (http, cancel) = (fake.http.clone(), cancel.clone());
        tokio::spawn(async move { poll_login(&http, &Pkce::generate(), &policy, &cancel).await })
    };
    fake.poll.entered.notified().await;
    cancel.cancel();
    assert!(matches!(task.await.unwrap(), Err(LoginError::Cancelled)));
    assert_eq!(fake.poll.calls(), 1);
}

#[tokio::test]
async fn poll_rejects_a_200_without_tokens() {
    let fake = Fake::start(
        Route::new(|_| json(200, serde_json::json!({"uuid": "x"}))),
        Route::missing(),
        Route::missing(),
    )
    .await;
    let err = poll_fast(&fake.http, &Pkce::generate()).await.unwrap_err();
    assert!(matches!(err, LoginError::BadResponse(_)), "{err:?}");
}

#[tokio::test]
async fn poll_errors_never_reveal_the_verifier() {
    // A port nobody listens on: the network error must not carry the poll URL.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let http = http_for(&format!("http://{addr}/"));
    let pkce = Pkce::generate();
    let err = poll_fast(&http, &pkce).await.unwrap_err();
    assert!(
        matches!(err, LoginError::Failed(CursorError::Network(_))),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(&pkce.verifier));

    // An error page that echoes the request is withheld.
    let echoed = format!("bad request for verifier={}", pkce.verifier);
    let err = http_error(500, echoed.as_bytes(), &pkce.verifier);
    assert!(!err.to_string().contains(&pkce.verifier), "{err}");
}
