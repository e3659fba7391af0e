//! The token manager: caching, single-flight refresh, the env override, persistence.

use super::*;

// ---- TokenManager ----

fn oauth_issuing(token: String) -> Arc<Route> {
    Route::answering(
        200,
        serde_json::json!({"access_token": token, "shouldLogout": false}),
    )
}

/// A fake whose `oauth/token` issues one fresh token: the fake and that token.
async fn issuing_a_new_token() -> (Fake, String) {
    let new = jwt(now_secs() + 3600, "new");
    let fake = Fake::start(
        Route::missing(),
        oauth_issuing(new.clone()),
        Route::missing(),
    )
    .await;
    (fake, new)
}

#[tokio::test]
async fn fresh_token_is_served_from_cache_without_refresh() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let token = jwt(now_secs() + 3600, "fresh");
    let store = MemStore::with(session(token.clone(), Some("r1")));
    let tm = manager(&fake, store.clone());
    for _ in 0..5 {
        assert_eq!(tm.access_token().await.unwrap(), token);
    }
    assert_eq!(store.loads.load(Ordering::SeqCst), 1);
    assert_eq!(fake.oauth.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_callers_share_one_refresh() {
    let new = jwt(now_secs() + 3600, "new");
    let gate = Arc::new(Notify::new());
    let oauth = {
        let (gate, new) = (gate.clone(), new.clone());
        Route::new(move |_| {
            Reply::After(
                gate.clone(),
                200,
                serde_json::json!({"access_token": new, "shouldLogout": false}).to_string(),
            )
        })
    };
    let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
    let store = MemStore::with(session(jwt(now_secs() + 10, "expiring"), Some("r1")));
    let tm = manager(&fake, store.clone());
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let tm = tm.clone();
            tokio::spawn(async move { tm.access_token().await })
        })
        .collect();
    // Hold the one refresh open until it has started, so the others pile up behind it.
    fake.oauth.entered.notified().await;
    gate.notify_one();
    for c in callers {
        assert_eq!(c.await.unwrap().unwrap(), new);
    }
    assert_eq!(fake.oauth.calls(), 1);
    assert_eq!(store.saves.load(Ordering::SeqCst), 1);
    assert_eq!(store.stored().unwrap(), session(new, Some("r1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rejections_share_one_refresh() {
    let (fake, new) = issuing_a_new_token().await;
    let old = jwt(now_secs() + 3600, "old-but-revoked");
    let tm = manager(&fake, MemStore::with(session(old.clone(), Some("r1"))));
    assert_eq!(tm.access_token().await.unwrap(), old);
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (tm, old) = (tm.clone(), old.clone());
            tokio::spawn(async move { tm.refresh_after_rejection(&old).await })
        })
        .collect();
    for c in callers {
        assert_eq!(c.await.unwrap().unwrap(), new);
    }
    assert_eq!(fake.oauth.calls(), 1);
    // A rejection of a token we no longer use just returns the current one.
    assert_eq!(tm.refresh_after_rejection("stale").await.unwrap(), new);
    assert_eq!(fake.oauth.calls(), 1);
}

#[tokio::test]
async fn unreadable_token_counts_as_expired() {
    let (fake, new) = issuing_a_new_token().await;
    let tm = manager(
        &fake,
        MemStore::with(session("not-a-jwt".into(), Some("r1"))),
    );
    assert_eq!(tm.access_token().await.unwrap(), new);
    assert_eq!(fake.oauth.calls(), 1);
}

#[tokio::test]
async fn session_expired_keeps_the_credentials() {
    let oauth = Route::answering(
        200,
        serde_json::json!({"access_token": "", "shouldLogout": true}),
    );
    let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
    let old = session(jwt(now_secs().saturating_sub(60), "expired"), Some("r1"));
    let store = MemStore::with(old.clone());
    let tm = manager(&fake, store.clone());
    assert!(matches!(
        tm.access_token().await,
        Err(CursorError::SessionExpired)
    ));
    assert!(matches!(
        tm.access_token().await,
        Err(CursorError::SessionExpired)
    ));
    assert_eq!(
        fake.oauth.calls(),
        1,
        "the answer is remembered for a while"
    );
    assert_eq!(tm.current().await.unwrap(), Some(old.clone()));
    assert_eq!(store.stored(), Some(old));
}

#[tokio::test]
async fn a_token_without_refresh_means_is_used_until_it_expires() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let valid = jwt(now_secs() + 60, "bare");
    let tm = manager(&fake, MemStore::with(session(valid.clone(), None)));
    assert_eq!(tm.access_token().await.unwrap(), valid);
    let expired = jwt(now_secs().saturating_sub(1), "bare-expired");
    tm.sign_in(session(expired.clone(), None)).await.unwrap();
    assert!(matches!(
        tm.access_token().await,
        Err(CursorError::SessionExpired)
    ));
    assert!(matches!(
        tm.refresh_after_rejection(&expired).await,
        Err(CursorError::SessionExpired)
    ));
    assert_eq!(fake.oauth.calls() + fake.exchange.calls(), 0);
}

#[tokio::test]
async fn transient_failure_keeps_a_still_valid_token() {
    let fake = Fake::start(
        Route::missing(),
        Route::new(|_| Reply::Now(503, String::new())),
        Route::missing(),
    )
    .await;
    let old = jwt(now_secs() + 60, "valid-for-a-minute");
    let tm = manager(&fake, MemStore::with(session(old.clone(), Some("r1"))));
    assert_eq!(tm.access_token().await.unwrap(), old);
    assert_eq!(tm.access_token().await.unwrap(), old);
    assert_eq!(
        fake.oauth.calls(),
        1,
        "no retry storm while the network is down"
    );
}

#[tokio::test]
async fn transient_failure_with_an_expired_token_is_an_error() {
    let fake = Fake::start(
        Route::missing(),
        Route::new(|_| Reply::Now(503, String::new())),
        Route::missing(),
    )
    .await;
    let tm = manager(
        &fake,
        MemStore::with(session(
            jwt(now_secs().saturating_sub(1), "dead"),
            Some("r1"),
        )),
    );
    assert_eq!(tm.access_token().await.unwrap_err().kind(), "unavailable");
    assert_eq!(tm.access_token().await.unwrap_err().kind(), "unavailable");
    assert_eq!(fake.oauth.calls(), 1);
}

#[tokio::test]
async fn env_token_wins_and_is_never_stored_or_refreshed() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let store = Arc::new(MemStore::default());
    let tm = TokenManager::new(
        fake.http.clone(),
        store.clone(),
        Some("env-token".into()),
        Duration::from_secs(300),
    );
    assert!(tm.uses_env_token());
    assert_eq!(tm.access_token().await.unwrap(), "env-token");
    assert!(
        tm.refresh_after_rejection("env-token")
            .await
            .unwrap_err()
            .is_auth()
    );
    assert_eq!(
        tm.current().await.unwrap().unwrap().access_token,
        "env-token"
    );
    assert_eq!(store.loads.load(Ordering::SeqCst), 0);
    assert_eq!(store.saves.load(Ordering::SeqCst), 0);
    assert_eq!(fake.oauth.calls() + fake.exchange.calls(), 0);
    assert!(!format!("{tm:?}").contains("env-token"));
}

#[tokio::test]
async fn sign_in_status_and_sign_out() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let store = Arc::new(MemStore::default());
    let tm = manager(&fake, store.clone());
    assert!(matches!(
        tm.access_token().await,
        Err(CursorError::NotSignedIn)
    ));
    assert_eq!(tm.current().await.unwrap(), None);

    let creds = session(jwt(now_secs() + 3600, "a"), Some("r1"));
    tm.sign_in(creds.clone()).await.unwrap();
    assert_eq!(store.stored(), Some(creds.clone()));
    assert_eq!(tm.access_token().await.unwrap(), creds.access_token);

    tm.sign_out().await.unwrap();
    assert_eq!(store.stored(), None);
    assert!(matches!(
        tm.access_token().await,
        Err(CursorError::NotSignedIn)
    ));
}

#[tokio::test]
async fn store_failure_is_reported_with_its_advice() {
    let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
    let store = Arc::new(MemStore {
        fail_load: true,
        ..Default::default()
    });
    let tm = manager(&fake, store);
    let err = tm.access_token().await.unwrap_err();
    assert_eq!(err.kind(), "credential_store");
    assert!(
        err.to_string().contains("CURSOR_BRIDGE_CREDENTIALS_FILE"),
        "{err}"
    );
}

#[tokio::test]
async fn refreshed_credentials_are_persisted_with_the_rotated_refresh_token() {
    let new = jwt(now_secs() + 3600, "new");
    let exchange = {
        let new = new.clone();
        Route::new(move |_| {
            json(
                200,
                serde_json::json!({"accessToken": new, "refreshToken": "r2"}),
            )
        })
    };
    let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
    let store = MemStore::with(session(jwt(now_secs() + 5, "old"), Some("r1")));
    let tm = manager(&fake, store.clone());
    assert_eq!(tm.access_token().await.unwrap(), new);
    assert_eq!(store.stored(), Some(session(new, Some("r2"))));
}

#[tokio::test]
async fn the_route_that_worked_is_tried_first_next_time() {
    let fake = Fake::start(
        Route::missing(),
        Route::new(|_| {
            json(
                200,
                serde_json::json!({"access_token": jwt(now_secs() + 3600, "n"), "shouldLogout": false}),
            )
        }),
        Route::new(|_| Reply::Now(401, "{}".into())),
    )
    .await;
    let tm = TokenManager::new(
        fake.http.clone(),
        MemStore::with(session(jwt(now_secs() + 5, "old"), Some("r1"))),
        None,
        Duration::from_secs(300),
    );
    assert_eq!(tm.refresh_route(), RefreshRoute::Exchange);
    let first = tm.access_token().await.unwrap();
    assert_eq!((fake.exchange.calls(), fake.oauth.calls()), (1, 1));
    assert_eq!(tm.refresh_route(), RefreshRoute::Oauth);
    tm.refresh_after_rejection(&first).await.unwrap();
    assert_eq!(
        (fake.exchange.calls(), fake.oauth.calls()),
        (1, 2),
        "the second refresh goes straight to oauth/token"
    );
}
