//! Signing in, for real over HTTP: GitHub's OAuth web flow against the strict fake (the
//! `state` bound to the browser, codes used once, the person's installations deciding what
//! they see, admins from FLEXT_QUALITY_ADMINS, no open redirect), and the one-time links a
//! server without OAuth prints.

mod harness;
mod support;

use flext_quality::config::{OAuthSettings, Settings};
use harness::dsl::{run_test, Options, Tester, INSTALLATION};
use reqwest::redirect::Policy;

const CONFIG: &str = "[backends]\nruff = {}\n";

fn with_oauth(s: &mut Settings) {
    s.web.oauth = Some(OAuthSettings {
        client_id: "Iv1.flexttest".into(),
        client_secret: "the client secret".to_owned().into(),
        web_url: s.github.api_url.clone(),
    });
    s.web.admins = vec!["octo-admin".into()];
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A response's redirect target and the `name=value` of the cookie it sets, if any.
fn redirect(resp: &reqwest::Response, cookie: &str) -> (String, Option<String>) {
    let to = resp.headers()["location"].to_str().unwrap().to_owned();
    let set = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{cookie}=")))
        .map(|v| v.split(';').next().unwrap().to_owned());
    (to, set)
}

/// Walks the flow as a browser would: our /signin, GitHub's authorize, our callback. The
/// callback URL and the state cookie, then the final response.
async fn sign_in(t: &Tester, next: &str) -> (String, String, reqwest::Response) {
    let b = browser();
    let start = b
        .get(format!("{}/signin?next={next}", t.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 303);
    let (authorize, state_cookie) = redirect(&start, "fq_oauth");
    let state_cookie = state_cookie.expect("the sign-in binds its state to the browser");
    assert!(authorize.starts_with(&t.github().url()), "{authorize}");
    assert!(authorize.contains("client_id=Iv1.flexttest"), "{authorize}");
    let github = b.get(&authorize).send().await.unwrap();
    assert_eq!(github.status().as_u16(), 302);
    let (callback, _) = redirect(&github, "-");
    let done = b
        .get(&callback)
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    (callback, state_cookie, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_sign_in_checks_state_and_shows_what_the_person_may_see() {
    run_test(
        Options {
            settings: with_oauth,
            ..Options::default()
        },
        |t| async move {
            let repo = t.repo("acme/signin");
            let sha = repo.commit(
                "main",
                &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
            );
            repo.push(None, &sha).await;
            t.expect_check_run(&sha).await;
            t.wait_idle().await;
            t.github().set_oauth_client(
                "Iv1.flexttest",
                "the client secret",
                &format!("{}/signin/callback", t.url()),
            );
            t.github().sign_in_as("Octo-Member", &[INSTALLATION]);

            let (callback, state_cookie, done) = sign_in(&t, "%2Fapi%2Fv1%2Fprojects").await;
            assert_eq!(done.status().as_u16(), 303, "{:?}", done.text().await);
            let (to, session) = redirect(&done, "fq_session");
            assert_eq!(to, "/api/v1/projects", "back where they were going");
            let session = session.expect("a session cookie");
            let set = done
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Lax"),
                "{set}"
            );
            let projects: serde_json::Value = browser()
                .get(format!("{}/api/v1/projects", t.url()))
                .header("cookie", &session)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                projects["items"][0]["full_name"], "acme/signin",
                "{projects}"
            );
            let audit = browser()
                .get(format!("{}/api/v1/audit", t.url()))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(audit.status().as_u16(), 403, "a member is a viewer");

            // The same code again: GitHub refuses it, and so do we.
            let again = browser()
                .get(&callback)
                .header("cookie", &state_cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status().as_u16(), 502);
            assert!(t
                .github()
                .oauth_refusals()
                .iter()
                .any(|r| r.contains("incorrect or expired")));

            // A callback this browser did not start (another state, or no state cookie).
            let forged = callback.replace("state=", "state=0");
            let r = browser()
                .get(&forged)
                .header("cookie", &state_cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 400);
            let r = browser().get(&callback).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 400);

            // Someone with no installation of the App sees nothing of it.
            t.github().sign_in_as("outsider", &[]);
            let (_, _, done) = sign_in(&t, "%2F%2Fevil.example").await;
            let (to, outsider) = redirect(&done, "fq_session");
            assert_eq!(to, "/", "never an open redirect");
            let projects: serde_json::Value = browser()
                .get(format!("{}/api/v1/projects", t.url()))
                .header("cookie", outsider.unwrap())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(projects["items"].as_array().unwrap().len(), 0);

            // An admin named in FLEXT_QUALITY_ADMINS is an admin, whatever their case.
            t.github().sign_in_as("Octo-Admin", &[]);
            let (_, _, done) = sign_in(&t, "%2F").await;
            let (_, admin) = redirect(&done, "fq_session");
            let admin = admin.unwrap();
            let audit = browser()
                .get(format!("{}/api/v1/audit", t.url()))
                .header("cookie", &admin)
                .send()
                .await
                .unwrap();
            assert_eq!(audit.status().as_u16(), 200);
            let projects: serde_json::Value = browser()
                .get(format!("{}/api/v1/projects", t.url()))
                .header("cookie", &admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                projects["items"].as_array().unwrap().len(),
                1,
                "admins see every project"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_time_link_signs_in_the_local_admin_once() {
    run_test(Options::default(), |t| async move {
        let link = flext_quality::web::signin::new_link(t.store())
            .await
            .unwrap();
        let first = browser()
            .get(format!("{}{link}", t.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(first.status().as_u16(), 303);
        let (to, session) = redirect(&first, "fq_session");
        assert_eq!(to, "/");
        let session = session.unwrap();
        let audit = browser()
            .get(format!("{}/api/v1/audit", t.url()))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(audit.status().as_u16(), 200, "the local admin is an admin");
        let again = browser()
            .get(format!("{}{link}", t.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 403, "a link works once");
        let unknown = browser()
            .get(format!("{}/signin/token/abc", t.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 403);
        // Without OAuth, /signin says how to get a link.
        let page = browser()
            .get(format!("{}/signin", t.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("flext-quality sign-in-link"), "{page}");
        // Signing out needs the form's CSRF token.
        let r = browser()
            .post(format!("{}/signout", t.url()))
            .header("cookie", &session)
            .form(&[("csrf", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
    })
    .await;
}
