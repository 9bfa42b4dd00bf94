//! Request-body validation against GitHub's OpenAPI description
//! (`shared/fixtures/github/openapi/api.github.com.json`).
//!
//! The fake GitHub runs every request body through [`Spec::validate`], so a request the real
//! API would refuse fails the test here instead of in production. Only the OpenAPI 3.0 subset
//! that GitHub's request bodies use is implemented; `pattern` and formats other than
//! `date-time` are not checked (no regex engine among the allowed dependencies).
//! On top of the schema, [`documented_rules`] enforces limits that GitHub documents in prose
//! and that the Octokit copy of the description does not encode.

use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::sync::LazyLock;

/// One failed constraint: where in the body (JSON pointer) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError {
    pub pointer: String,
    pub reason: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.reason)
    }
}

fn err(pointer: &str, reason: impl Into<String>) -> ValidationError {
    ValidationError {
        pointer: pointer.to_string(),
        reason: reason.into(),
    }
}

/// An operation of the description, reduced to what matching and validation need.
#[derive(Debug)]
pub struct Operation {
    pub method: String,
    pub template: String,
    pub operation_id: String,
    pub documentation_url: String,
    segments: Vec<String>,
    body_required: bool,
    body_schema: Option<Value>,
}

/// The parsed description plus an index of its operations.
pub struct Spec {
    doc: Value,
    operations: Vec<Operation>,
    /// Objects may hold only the properties their schema names (for our own API's answers,
    /// where an undocumented field is a bug).
    closed: bool,
}

/// The description is 13 MB; parsing it once per test process keeps starting fakes cheap.
static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    let path = spec_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read OpenAPI description {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("OpenAPI description is not JSON");
    Spec::new(doc)
});

/// The process-wide description.
pub fn spec() -> &'static Spec {
    &SPEC
}

/// `GITHUB_OPENAPI_PATH` wins; otherwise search upwards from the crate for the shared
/// fixtures, because the crate may sit next to `shared/` or deeper (scratch crates).
fn spec_path() -> PathBuf {
    if let Ok(p) = std::env::var("GITHUB_OPENAPI_PATH") {
        return PathBuf::from(p);
    }
    let rel = "fixtures/github/openapi/api.github.com.json";
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in start.ancestors() {
        for candidate in [
            dir.join("shared").join(rel),
            dir.join("tests").join(rel),
            dir.join(rel),
        ] {
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "GitHub OpenAPI description not found above {}; set GITHUB_OPENAPI_PATH",
        start.display()
    );
}

impl Spec {
    /// A description whose objects are closed: a property the schema does not name fails.
    pub fn closed(doc: Value) -> Self {
        Spec {
            closed: true,
            ..Spec::new(doc)
        }
    }

    /// The JSON schema of an operation's answer with `status`, if the description has one.
    pub fn response_schema(&self, op: &Operation, status: u16) -> Option<&Value> {
        let template = op.template.replace('~', "~0").replace('/', "~1");
        self.doc.pointer(&format!(
            "/paths/{template}/{}/responses/{status}/content/application~1json/schema",
            op.method.to_ascii_lowercase()
        ))
    }

    /// Every operation, for tests that go through them all.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    fn new(doc: Value) -> Self {
        let mut operations = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (template, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (method, op) in item {
                    let Some(op_id) = op.get("operationId").and_then(Value::as_str) else {
                        continue;
                    };
                    let body = op.get("requestBody");
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        operation_id: op_id.to_string(),
                        documentation_url: op
                            .pointer("/externalDocs/url")
                            .and_then(Value::as_str)
                            .unwrap_or("https://docs.github.com/rest")
                            .to_string(),
                        segments: template
                            .trim_matches('/')
                            .split('/')
                            .map(String::from)
                            .collect(),
                        body_required: body
                            .and_then(|b| b.get("required"))
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        body_schema: body
                            .and_then(|b| b.pointer("/content/application~1json/schema"))
                            .cloned(),
                    });
                }
            }
        }
        Spec {
            doc,
            operations,
            closed: false,
        }
    }

    /// The operation for a concrete request path. When several templates match
    /// (`/repos/{owner}/{repo}/check-runs/{id}` vs. a fully literal sibling), the one with the
    /// most literal segments wins, as a router would choose.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method) && op.segments.len() == segs.len())
            .filter_map(|op| {
                let mut literal = 0;
                for (t, s) in op.segments.iter().zip(&segs) {
                    if t.contains('{') {
                        if s.is_empty() {
                            return None;
                        }
                    } else if t == s {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, op))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, op)| op)
    }

    /// Validate a request body (`None` when the request had none) for `op`.
    pub fn validate(&self, op: &Operation, body: Option<&Value>) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        match (body, &op.body_schema) {
            (None, _) if op.body_required => errors.push(err("", "a request body is required")),
            (None, _) => {}
            (Some(_), None) => {}
            (Some(v), Some(schema)) => {
                self.check(schema, v, "", &mut errors);
                errors.extend(documented_rules(&op.operation_id, v));
            }
        }
        errors
    }

    /// Validate any value against any schema of the description (for tests of the validator).
    pub fn validate_value(&self, schema: &Value, value: &Value) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        self.check(schema, value, "", &mut errors);
        errors
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        // Bounded so a cyclic $ref cannot hang a test.
        for _ in 0..32 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    s = r
                        .strip_prefix('#')
                        .and_then(|p| self.doc.pointer(p))
                        .unwrap_or_else(|| panic!("unresolvable $ref {r}"));
                }
                None => return s,
            }
        }
        panic!("$ref chain too deep");
    }

    fn check(&self, schema: &Value, v: &Value, ptr: &str, errors: &mut Vec<ValidationError>) {
        let s = self.resolve(schema);
        if !s.is_object() {
            return;
        }
        if v.is_null() && s.get("nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
                errors.push(err(
                    ptr,
                    format!("expected {}, got {}", types.join(" or "), kind(v)),
                ));
                return;
            }
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
            if !allowed.contains(v) {
                errors.push(err(
                    ptr,
                    format!("{v} is not one of {}", Value::Array(allowed.clone())),
                ));
            }
        }
        match v {
            Value::Object(map) => {
                let props = s.get("properties").and_then(Value::as_object);
                if let Some(req) = s.get("required").and_then(Value::as_array) {
                    for name in req.iter().filter_map(Value::as_str) {
                        if !map.contains_key(name) {
                            errors.push(err(ptr, format!("missing required property `{name}`")));
                        }
                    }
                }
                for (k, child) in map {
                    let child_ptr = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                    if let Some(p) = props.and_then(|p| p.get(k)) {
                        self.check(p, child, &child_ptr, errors);
                    } else {
                        match s.get("additionalProperties") {
                            Some(Value::Bool(false)) => {
                                errors.push(err(&child_ptr, "property is not allowed here"))
                            }
                            Some(extra @ Value::Object(_)) => {
                                self.check(extra, child, &child_ptr, errors)
                            }
                            // A schema that names no properties is a free-form object.
                            _ if self.closed && props.is_some() => {
                                errors.push(err(&child_ptr, "property is not in the description"))
                            }
                            _ => {}
                        }
                    }
                }
            }
            Value::Array(items) => {
                let n = items.len() as u64;
                if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                    if n > max {
                        errors.push(err(ptr, format!("{n} items, at most {max} allowed")));
                    }
                }
                if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                    if n < min {
                        errors.push(err(ptr, format!("{n} items, at least {min} required")));
                    }
                }
                if let Some(item_schema) = s.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{ptr}/{i}"), errors);
                    }
                }
            }
            Value::String(text) => {
                // GitHub counts characters, not bytes.
                let n = text.chars().count() as u64;
                if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                    if n > max {
                        errors.push(err(ptr, format!("{n} characters, at most {max} allowed")));
                    }
                }
                if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                    if n < min {
                        errors.push(err(ptr, format!("{n} characters, at least {min} required")));
                    }
                }
                if s.get("format").and_then(Value::as_str) == Some("date-time")
                    && parse_rfc3339(text).is_none()
                {
                    errors.push(err(ptr, format!("{text:?} is not an RFC 3339 date-time")));
                }
            }
            Value::Number(num) => {
                let x = num.as_f64().unwrap_or(0.0);
                let exclusive = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
                if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                    if x < min || (exclusive("exclusiveMinimum") && x == min) {
                        errors.push(err(ptr, format!("{num} is below the minimum {min}")));
                    }
                }
                if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                    if x > max || (exclusive("exclusiveMaximum") && x == max) {
                        errors.push(err(ptr, format!("{num} is above the maximum {max}")));
                    }
                }
            }
            _ => {}
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, v, ptr, errors);
            }
        }
        for (key, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            let Some(alts) = s.get(key).and_then(Value::as_array) else {
                continue;
            };
            let results: Vec<Vec<ValidationError>> =
                alts.iter().map(|alt| self.validate_value(alt, v)).collect();
            let passing = results.iter().filter(|r| r.is_empty()).count();
            if passing == 0 {
                let why: Vec<String> = results
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let r: Vec<String> = r.iter().map(|e| format!("{ptr}{e}")).collect();
                        format!("alternative {i}: {}", r.join("; "))
                    })
                    .collect();
                errors.push(err(
                    ptr,
                    format!("matches none of {key} ({})", why.join(" | ")),
                ));
            } else if exactly_one && passing > 1 {
                errors.push(err(
                    ptr,
                    format!("matches {passing} alternatives of oneOf, not exactly one"),
                ));
            }
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "null" => v.is_null(),
        _ => true,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Seconds since the Unix epoch for an RFC 3339 timestamp (`2024-01-31T12:00:00Z`,
/// fractional seconds and numeric offsets allowed); `None` when it does not parse.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil: days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch, as GitHub formats timestamps.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// Limits GitHub documents in prose but the description does not encode (or, for
/// `checks/create`, lost when Octokit replaced the operation).
pub fn documented_rules(operation_id: &str, body: &Value) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    match operation_id {
        "checks/create" | "checks/update" => check_run_rules(body, &mut errors),
        "issues/create-comment" | "issues/update-comment" => {
            if let Some(text) = body.get("body").and_then(Value::as_str) {
                let n = text.chars().count();
                if n > 65_536 {
                    errors.push(err(
                        "/body",
                        format!("{n} characters, at most 65536 allowed"),
                    ));
                }
            }
        }
        _ => {}
    }
    errors
}

fn check_run_rules(body: &Value, errors: &mut Vec<ValidationError>) {
    let has_conclusion = body.get("conclusion").is_some_and(|c| !c.is_null());
    if body.get("status").and_then(Value::as_str) == Some("completed") && !has_conclusion {
        errors.push(err(
            "/status",
            "`conclusion` is required when `status` is `completed`",
        ));
    }
    if body.get("completed_at").is_some() && !has_conclusion {
        errors.push(err(
            "/completed_at",
            "`conclusion` is required when `completed_at` is given",
        ));
    }
    if body.get("conclusion").and_then(Value::as_str) == Some("stale") {
        errors.push(err(
            "/conclusion",
            "only GitHub can set the conclusion `stale`",
        ));
    }
    let limit = |ptr: &str, v: Option<&Value>, max: usize, bytes: bool, errors: &mut Vec<_>| {
        if let Some(s) = v.and_then(Value::as_str) {
            let n = if bytes { s.len() } else { s.chars().count() };
            if n > max {
                let unit = if bytes { "bytes" } else { "characters" };
                errors.push(err(ptr, format!("{n} {unit}, at most {max} allowed")));
            }
        }
    };
    if let Some(output) = body.get("output") {
        limit(
            "/output/summary",
            output.get("summary"),
            65_535,
            false,
            errors,
        );
        limit("/output/text", output.get("text"), 65_535, false, errors);
        let annotations = output.get("annotations").and_then(Value::as_array);
        if let Some(list) = annotations {
            if list.len() > 50 {
                errors.push(err(
                    "/output/annotations",
                    format!("{} annotations, at most 50 per request", list.len()),
                ));
            }
            for (i, a) in list.iter().enumerate() {
                let p = format!("/output/annotations/{i}");
                limit(&format!("{p}/title"), a.get("title"), 255, false, errors);
                limit(
                    &format!("{p}/message"),
                    a.get("message"),
                    65_536,
                    true,
                    errors,
                );
                limit(
                    &format!("{p}/raw_details"),
                    a.get("raw_details"),
                    65_536,
                    true,
                    errors,
                );
                let line = |k: &str| a.get(k).and_then(Value::as_i64);
                let (start, end) = (line("start_line"), line("end_line"));
                if let Some(s) = start {
                    if s < 1 {
                        errors.push(err(&format!("{p}/start_line"), "line numbers start at 1"));
                    }
                }
                if let (Some(s), Some(e)) = (start, end) {
                    if e < s {
                        errors.push(err(
                            &format!("{p}/end_line"),
                            format!("end_line {e} is before start_line {s}"),
                        ));
                    }
                }
                for col in ["start_column", "end_column"] {
                    if a.get(col).is_some_and(|c| !c.is_null()) {
                        if start != end {
                            errors.push(err(
                                &format!("{p}/{col}"),
                                "columns are only allowed when start_line == end_line",
                            ));
                        } else if line(col).is_some_and(|c| c < 1) {
                            errors.push(err(&format!("{p}/{col}"), "column numbers start at 1"));
                        }
                    }
                }
            }
        }
    }
    if let Some(actions) = body.get("actions").and_then(Value::as_array) {
        if actions.len() > 3 {
            errors.push(err(
                "/actions",
                format!("{} actions, at most 3 allowed", actions.len()),
            ));
        }
    }
}
