//! Storm mode of the fake GitHub: for a while, GitHub answers a share of API requests the way
//! it does when it is in trouble or wants an integration to slow down — 502 and 503, the
//! secondary rate limit (403 with its message and `retry-after`), 429 with `retry-after`, the
//! primary rate limit (403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`) — and it
//! loses the answer to writes it did apply (the check run or comment is created, the client
//! gets a 502): that is where duplicates come from.
//!
//! Rate limits are kept the way GitHub keeps them, storm or not: once a caller (an
//! installation, or the App with its JWT) is told to wait, every request it sends before the
//! time is up is refused again, and recorded. A request that was already on the wire when the
//! limit was answered cannot have known; one sent later did not back off
//! ([`StormReport::not_backing_off`]).
//!
//! Git traffic is never hit: GitHub's git hosting fails apart from its API.

use super::fake_github::{gh_error, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a stormy answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Blow {
    /// 502 before the request is applied.
    BadGateway,
    /// 503 before the request is applied.
    Unavailable,
    /// The request is applied, then its answer is lost as a 502 (on a read: just a 502).
    LostAnswer,
    /// 403 with the secondary-rate-limit message and `retry-after`.
    SecondaryLimit,
    /// 429 with `retry-after` (and the usual `x-ratelimit-*` headers, quota left).
    TooManyRequests,
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, no `retry-after`.
    PrimaryLimit,
}

impl Blow {
    pub const ALL: [Blow; 6] = [
        Blow::BadGateway,
        Blow::Unavailable,
        Blow::LostAnswer,
        Blow::SecondaryLimit,
        Blow::TooManyRequests,
        Blow::PrimaryLimit,
    ];

    fn is_limit(self) -> bool {
        matches!(
            self,
            Blow::SecondaryLimit | Blow::TooManyRequests | Blow::PrimaryLimit
        )
    }
}

/// A storm: how long, how much of the traffic, and with what.
#[derive(Debug, Clone)]
pub struct Storm {
    pub lasts: Duration,
    /// Share of API requests hit, in percent.
    pub percent: u64,
    /// What hit requests get, in turn.
    pub blows: Vec<Blow>,
    /// How long a rate limit asks the caller to wait, in seconds.
    pub wait_secs: u64,
    /// Writes whose first one in the storm is applied and its answer lost, whatever the dice
    /// say: an OpenAPI operation id (`checks/create`, …) and a text its body must contain
    /// (`""` for any).
    pub lose_first: Vec<(&'static str, &'static str)>,
    pub seed: u64,
}

impl Default for Storm {
    fn default() -> Storm {
        Storm {
            lasts: Duration::from_secs(10),
            percent: 30,
            blows: Blow::ALL.to_vec(),
            wait_secs: 2,
            lose_first: Vec::new(),
            seed: 0x5eed_5707,
        }
    }
}

/// One rate limit answered to one caller.
#[derive(Debug, Clone)]
pub struct Window {
    /// The installation id, or 0 for the App itself.
    pub caller: u64,
    pub blow: Blow,
    pub opened: Instant,
    pub until: Instant,
    /// Requests the caller sent while told to wait: how long after the limit each arrived, and
    /// what it was.
    pub refused: Vec<(Duration, String)>,
}

/// What a storm did, and how the client took it.
#[derive(Debug, Clone, Default)]
pub struct StormReport {
    /// API requests that arrived while the storm raged.
    pub requests: usize,
    /// Requests hit, by kind of blow.
    pub hits: BTreeMap<String, usize>,
    /// Writes GitHub applied whose answer was lost (`METHOD path`).
    pub lost: Vec<String>,
    pub windows: Vec<Window>,
    /// Error answers (hits and refusals) in the busiest second.
    pub busiest_second: usize,
}

/// A request on the wire when a limit was answered arrives within this long of it.
const CROSSING: Duration = Duration::from_millis(500);

impl StormReport {
    /// Requests sent while their caller was told to wait: beyond those that may have crossed
    /// the limit's answer on the wire (at most `in_flight - 1` of them, within half a second).
    pub fn not_backing_off(&self, in_flight: usize) -> Vec<String> {
        let mut found = Vec::new();
        for w in &self.windows {
            for (i, (after, what)) in w.refused.iter().enumerate() {
                if *after > CROSSING || i + 1 >= in_flight {
                    found.push(format!(
                        "{what}: {} ms after a {:?} that asked caller {} to wait {} ms",
                        after.as_millis(),
                        w.blow,
                        w.caller,
                        w.until.duration_since(w.opened).as_millis()
                    ));
                }
            }
        }
        found
    }

    pub fn hit(&self, blow: Blow) -> usize {
        self.hits.get(&format!("{blow:?}")).copied().unwrap_or(0)
    }
}

/// What the storm does to one request.
pub(crate) enum Verdict {
    /// Answered as GitHub would answer it.
    Pass,
    /// Answered with this instead, not applied.
    Answer(Response),
    /// Applied, then the answer is lost.
    LoseAnswer,
}

#[derive(Default)]
pub(crate) struct StormState {
    storm: Option<(Storm, Instant)>,
    rng: u64,
    pending_lost: Vec<(&'static str, &'static str)>,
    hit_count: usize,
    limited: HashMap<u64, usize>,
    report: StormReport,
    error_times: Vec<Instant>,
}

fn unix_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

impl StormState {
    pub(crate) fn start(&mut self, storm: Storm) {
        self.rng = storm.seed | 1;
        self.pending_lost = storm.lose_first.clone();
        let ends = Instant::now() + storm.lasts;
        self.storm = Some((storm, ends));
    }

    pub(crate) fn stop(&mut self) {
        self.storm = None;
    }

    /// Whether the storm still rages.
    pub(crate) fn raging(&self) -> bool {
        self.storm
            .as_ref()
            .is_some_and(|(_, ends)| Instant::now() < *ends)
    }

    pub(crate) fn report(&self) -> StormReport {
        let mut report = self.report.clone();
        let mut times = self.error_times.clone();
        times.sort();
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= Duration::from_secs(1) {
                start += 1;
            }
            report.busiest_second = report.busiest_second.max(end - start + 1);
        }
        report
    }

    fn roll(&mut self) -> u64 {
        // xorshift64: reproducible for a seed, good enough to scatter blows.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn count(&mut self, blow: Blow) {
        *self.report.hits.entry(format!("{blow:?}")).or_default() += 1;
        self.error_times.push(Instant::now());
    }

    /// The answer to a request whose answer is lost, recorded.
    pub(crate) fn lose(&mut self, method: &str, path: &str) -> Response {
        self.report.lost.push(format!("{method} {path}"));
        gh_error(502, "Server Error", "https://docs.github.com/rest")
    }
}

/// Who a request counts against: the installation of its token (or of the token it asks
/// for), else the App itself (0).
fn caller(st: &State, headers: &HeaderMap, path: &str) -> u64 {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("token "))
        .and_then(|t| st.tokens.get(t));
    if let Some(t) = token {
        return t.installation_id;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs[..] {
        ["app", "installations", id, "access_tokens"] => id.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A rate-limit answer of kind `blow` that ends at `until`.
fn limit_answer(blow: Blow, caller: u64, until: Instant) -> Response {
    let left = until.saturating_duration_since(Instant::now());
    // GitHub counts in whole seconds; rounding up never invites an early request.
    let retry_after = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let reset = (unix_secs_f64() + left.as_secs_f64()).ceil() as u64;
    let secondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0F00:1B2C:3D4E5F:6A7B8C:5F0A1B2C.";
    let secondary_doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
    let (status, message, doc, remaining) = match blow {
        Blow::SecondaryLimit => (403, secondary.to_owned(), secondary_doc, 4000),
        Blow::TooManyRequests => (429, secondary.to_owned(), secondary_doc, 4000),
        _ => (
            403,
            format!("API rate limit exceeded for installation ID {caller}. If you reach out to GitHub Support for help, please include the request ID 0F00:1B2C:3D4E5F:6A7B8C:5F0A1B2C."),
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit",
            0,
        ),
    };
    let mut resp = gh_error(status, &message, doc);
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        h.insert(k, v.parse().expect("header value"));
    };
    set("x-ratelimit-limit", "5000".into());
    set("x-ratelimit-remaining", remaining.to_string());
    set("x-ratelimit-used", (5000 - remaining).to_string());
    set("x-ratelimit-resource", "core".into());
    set(
        "x-ratelimit-reset",
        if remaining == 0 {
            reset.to_string()
        } else {
            (unix_secs_f64() as u64 + 3600).to_string()
        },
    );
    if blow != Blow::PrimaryLimit {
        set("retry-after", retry_after.to_string());
    }
    resp
}

/// What the storm (and any rate limit still in force) does to an API request.
pub(crate) fn before(
    st: &mut State,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    operation: Option<&str>,
    body: &[u8],
) -> Verdict {
    let caller = caller(st, headers, path);
    let now = Instant::now();
    let storm = &mut st.storm;
    if let Some(&w) = storm.limited.get(&caller) {
        let window = &mut storm.report.windows[w];
        if now < window.until {
            window
                .refused
                .push((now - window.opened, format!("{method} {path}")));
            let (blow, until) = (window.blow, window.until);
            storm.error_times.push(now);
            return Verdict::Answer(limit_answer(blow, caller, until));
        }
        storm.limited.remove(&caller);
    }
    if !storm.raging() {
        return Verdict::Pass;
    }
    storm.report.requests += 1;
    if method != "GET" {
        let body = String::from_utf8_lossy(body);
        if let Some(i) = storm
            .pending_lost
            .iter()
            .position(|(op, text)| Some(*op) == operation && body.contains(text))
        {
            storm.pending_lost.remove(i);
            storm.count(Blow::LostAnswer);
            return Verdict::LoseAnswer;
        }
    }
    let (percent, blows, wait) = match &storm.storm {
        Some((s, _)) => (s.percent, s.blows.clone(), s.wait_secs),
        None => return Verdict::Pass,
    };
    if blows.is_empty() || storm.roll() % 100 >= percent {
        return Verdict::Pass;
    }
    let blow = blows[storm.hit_count % blows.len()];
    storm.hit_count += 1;
    storm.count(blow);
    match blow {
        Blow::BadGateway => Verdict::Answer(gh_error(502, "Server Error", "")),
        Blow::Unavailable => Verdict::Answer(gh_error(
            503,
            "Service Unavailable",
            "https://www.githubstatus.com",
        )),
        Blow::LostAnswer => Verdict::LoseAnswer,
        limit => {
            debug_assert!(limit.is_limit());
            let until = now + Duration::from_secs(wait);
            storm.limited.insert(caller, storm.report.windows.len());
            storm.report.windows.push(Window {
                caller,
                blow: limit,
                opened: now,
                until,
                refused: Vec::new(),
            });
            Verdict::Answer(limit_answer(limit, caller, until))
        }
    }
}
