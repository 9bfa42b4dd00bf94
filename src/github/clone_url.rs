//! Which clone URLs may receive an installation token.
//!
//! The clone URL comes from the webhook payload. A token must only ever go to the GitHub we
//! talk to: the host of `GITHUB_API_URL` (`github.com` for `api.github.com`), on any port,
//! over https unless `GITHUB_API_URL` itself is plain http (a test server).

/// `Ok` when `clone_url` is on the GitHub host of `api_url`; `Err` says why not.
pub fn check(api_url: &str, clone_url: &str) -> Result<(), String> {
    let api = reqwest::Url::parse(api_url).map_err(|e| format!("GITHUB_API_URL: {e}"))?;
    let clone = reqwest::Url::parse(clone_url)
        .map_err(|_| "the repository's clone URL is not a URL".to_owned())?;
    let api_host = api.host_str().unwrap_or_default().to_ascii_lowercase();
    let expected = match api_host.as_str() {
        "api.github.com" => "github.com".to_owned(),
        other => other.to_owned(),
    };
    let host = clone.host_str().unwrap_or_default().to_ascii_lowercase();
    if host != expected {
        return Err(format!(
            "the repository's clone URL is on `{host}`, not on the GitHub host `{expected}`: no token is sent there"
        ));
    }
    let scheme_ok = match clone.scheme() {
        "https" => true,
        "http" => api.scheme() == "http",
        _ => false,
    };
    if !scheme_ok {
        return Err(format!(
            "the repository's clone URL uses `{}`; only https is allowed (http only when GITHUB_API_URL is http)",
            clone.scheme()
        ));
    }
    if !clone.username().is_empty() || clone.password().is_some() {
        return Err("the repository's clone URL carries credentials".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn only_the_github_we_talk_to_gets_tokens() {
        let gh = "https://api.github.com";
        assert_eq!(check(gh, "https://github.com/acme/widgets.git"), Ok(()));
        assert_eq!(check(gh, "https://GitHub.com:443/acme/widgets.git"), Ok(()));
        for bad in [
            "https://evil.example/acme/widgets.git",
            "https://github.com.evil.example/acme/widgets.git",
            "https://api.github.com.evil/x.git",
            "http://github.com/acme/widgets.git",
            "ssh://git@github.com/acme/widgets.git",
            "file:///etc/passwd",
            "https://user:pass@github.com/acme/widgets.git",
            "not a url",
        ] {
            assert!(check(gh, bad).is_err(), "{bad}");
        }
        let ghe = "https://ghe.corp.example/api/v3";
        assert_eq!(check(ghe, "https://ghe.corp.example/team/repo.git"), Ok(()));
        assert!(check(ghe, "https://github.com/team/repo.git").is_err());
        // A plain-http test server allows http clone URLs on its own host, any port.
        let test = "http://127.0.0.1:4000";
        assert_eq!(check(test, "http://127.0.0.1:5000/git/a/b.git"), Ok(()));
        assert!(check(test, "http://localhost:4000/git/a/b.git").is_err());
    }
}
