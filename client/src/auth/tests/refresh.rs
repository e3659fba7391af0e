//! The refresh routes and their fallbacks.

use super::*;

// ---- API key and refresh variants ----

#[tokio::test]
async fn api_key_exchange_keeps_the_key() {
    let exchange = Route::answering(
        200,
        serde_json::json!({"accessToken": "at", "refreshToken": "rt"}),
    );
    let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
    let creds = exchange_api_key(&fake.http, "key_123").await.unwrap();
    assert_eq!(creds.api_key.as_deref(), Some("key_123"));
    assert_eq!(creds.access_token, "at");
    let seen = fake.exchange.last();
    assert_eq!(seen.headers["authorization"], "Bearer key_123");
    assert_eq!(&seen.body[..], b"{}");
}

#[tokio::test]
async fn bad_api_key_is_an_auth_error() {
    let exchange = Route::answering(
        401,
        serde_json::json!({"code": "unauthenticated", "message": "bad key"}),
    );
    let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
    assert!(
        exchange_api_key(&fake.http, "key_bad")
            .await
            .unwrap_err()
            .is_auth()
    );
}

/// The session most refreshes here start from: access token `old`, refresh token `r1`.
fn old_session() -> Credentials {
    session("old".into(), Some("r1"))
}

/// `refresh` starting at `first`, keeping only the credentials.
async fn refresh_from(
    http: &CursorHttp,
    creds: &Credentials,
    first: RefreshRoute,
) -> Result<Credentials, CursorError> {
    refresh(http, creds, first).await.map(|(c, _)| c)
}

fn oauth_ok() -> Arc<Route> {
    Route::answering(
        200,
        serde_json::json!({"access_token": "new", "id_token": "id", "shouldLogout": false}),
    )
}

#[tokio::test]
async fn refresh_starts_with_the_exchange_for_browser_logins() {
    let exchange = Route::answering(200, serde_json::json!({"accessToken": "new"}));
    let fake = Fake::start(Route::missing(), oauth_ok(), exchange).await;
    let (new, route) = refresh(&fake.http, &old_session(), RefreshRoute::default())
        .await
        .unwrap();
    assert_eq!(new, session("new".into(), Some("r1")));
    assert_eq!(route, Some(RefreshRoute::Exchange));
    assert_eq!(fake.exchange.last().headers["authorization"], "Bearer r1");
    assert_eq!(fake.oauth.calls(), 0);
}

#[tokio::test]
async fn refresh_through_oauth_token_sends_the_documented_body() {
    let fake = Fake::start(Route::missing(), oauth_ok(), Route::missing()).await;
    let (new, route) = refresh(&fake.http, &old_session(), RefreshRoute::Oauth)
        .await
        .unwrap();
    assert_eq!(new, session("new".into(), Some("r1")));
    assert_eq!(route, Some(RefreshRoute::Oauth));
    let seen = fake.oauth.last();
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"grant_type": "refresh_token", "client_id": OAUTH_CLIENT_ID, "refresh_token": "r1"})
    );
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(fake.exchange.calls(), 0);
}

#[tokio::test]
async fn any_4xx_from_the_exchange_falls_back_to_oauth_token() {
    for status in [400, 401, 403, 404, 422, 429] {
        let exchange = Route::new(move |_| Reply::Now(status, "{}".into()));
        let fake = Fake::start(Route::missing(), oauth_ok(), exchange).await;
        let (new, route) = refresh(&fake.http, &old_session(), RefreshRoute::Exchange)
            .await
            .unwrap_or_else(|e| panic!("{status}: {e:?}"));
        assert_eq!(new.access_token, "new", "{status}");
        assert_eq!(route, Some(RefreshRoute::Oauth), "{status}");
        assert_eq!((fake.exchange.calls(), fake.oauth.calls()), (1, 1));
    }
}

#[tokio::test]
async fn should_logout_falls_back_then_means_session_expired() {
    let oauth = Route::answering(
        200,
        serde_json::json!({"access_token": "", "id_token": "", "shouldLogout": true}),
    );
    let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
    let err = refresh_from(&fake.http, &old_session(), RefreshRoute::Oauth)
        .await
        .unwrap_err();
    assert!(matches!(err, CursorError::SessionExpired));
    assert_eq!(fake.exchange.calls(), 1, "the other route was tried");
}

#[tokio::test]
async fn refresh_falls_back_to_exchange_when_oauth_is_missing() {
    let exchange = Route::answering(
        200,
        serde_json::json!({"accessToken": "new", "refreshToken": "r2"}),
    );
    let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
    let new = refresh_from(&fake.http, &old_session(), RefreshRoute::Oauth)
        .await
        .unwrap();
    assert_eq!(
        new,
        session("new".into(), Some("r2")),
        "a rotated refresh token is kept"
    );
    assert_eq!(fake.oauth.calls(), 1);
    assert_eq!(fake.exchange.last().headers["authorization"], "Bearer r1");
}

#[tokio::test]
async fn refresh_falls_back_when_oauth_answers_garbage_and_keeps_old_refresh_token() {
    let oauth = Route::new(|_| Reply::Now(200, "<html>".into()));
    let exchange = Route::answering(200, serde_json::json!({"accessToken": "new"}));
    let fake = Fake::start(Route::missing(), oauth, exchange).await;
    let new = refresh_from(&fake.http, &old_session(), RefreshRoute::Oauth)
        .await
        .unwrap();
    assert_eq!(new, session("new".into(), Some("r1")));
}

#[tokio::test]
async fn refused_on_both_routes_is_session_expired() {
    for first in [RefreshRoute::Exchange, RefreshRoute::Oauth] {
        for status in [401, 403] {
            let refuse = move || Route::new(move |_| Reply::Now(status, "{}".into()));
            let fake = Fake::start(Route::missing(), refuse(), refuse()).await;
            let err = refresh_from(&fake.http, &old_session(), first)
                .await
                .unwrap_err();
            assert!(
                matches!(err, CursorError::SessionExpired),
                "{first:?} {status}: {err:?}"
            );
            assert_eq!((fake.exchange.calls(), fake.oauth.calls()), (1, 1));
        }
    }
}

#[tokio::test]
async fn no_refresh_endpoint_at_all_is_session_expired() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let err = refresh_from(&fake.http, &old_session(), RefreshRoute::Exchange)
        .await
        .unwrap_err();
    assert!(matches!(err, CursorError::SessionExpired), "{err:?}");
}

#[tokio::test]
async fn server_trouble_is_reported_not_papered_over() {
    let oauth = Route::new(|_| Reply::Now(503, "overloaded".into()));
    let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
    let err = refresh_from(&fake.http, &old_session(), RefreshRoute::Oauth)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err:?}");
    assert_eq!(fake.exchange.calls(), 0);
}

#[tokio::test]
async fn stored_api_key_renews_through_the_exchange() {
    let exchange = Route::answering(
        200,
        serde_json::json!({"accessToken": "new", "refreshToken": "r2"}),
    );
    let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
    let mut creds = old_session();
    creds.api_key = Some("key_1".into());
    let (new, route) = refresh(&fake.http, &creds, RefreshRoute::Oauth)
        .await
        .unwrap();
    assert_eq!(route, None, "an API key is not a refresh route");
    assert_eq!(new.api_key.as_deref(), Some("key_1"));
    assert_eq!(new.refresh_token.as_deref(), Some("r2"));
    assert_eq!(
        fake.exchange.last().headers["authorization"],
        "Bearer key_1"
    );
    assert_eq!(fake.oauth.calls(), 0);
}

#[tokio::test]
async fn nothing_to_refresh_with_is_session_expired() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let err = refresh_from(
        &fake.http,
        &session("old".into(), None),
        RefreshRoute::Exchange,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CursorError::SessionExpired));
    assert_eq!(fake.oauth.calls() + fake.exchange.calls(), 0);
}
