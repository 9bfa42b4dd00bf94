//! Outgoing events' bookkeeping: the operators' event hooks (URL and secret sealed, only the
//! host kept in the clear for display), one delivery row per (hook, analysis, event) recorded
//! in the analysis's save transaction, each attempt recorded on its row — the delivery log
//! admins read — and every change to a hook audited in the same transaction as the change.

use super::accounts::audit;
use super::{flag, now_ms, Dialect, Store};
use crate::domain::gate::Verdict;
use crate::domain::outgoing::Announcement;
use crate::domain::status::HookEvent;
use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::AnyConnection;

/// Who registered the hooks of `FLEXT_QUALITY_EVENT_HOOKS`.
pub const ENV_ACTOR: &str = "env";

/// An event hook as listed: never its URL (only the host) nor its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventHook {
    pub id: i64,
    /// `host` or `host:port` of the URL; its path and query may carry a token.
    pub url_host: String,
    /// `analysis.completed`, `gate.changed`.
    pub events: Vec<String>,
    /// `env` for hooks from `FLEXT_QUALITY_EVENT_HOOKS`, else who registered it.
    pub created_by: String,
    pub created_at: i64,
    pub active: bool,
}

/// One event to one hook, and how sending it went (the last attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventDelivery {
    pub id: i64,
    pub hook_id: i64,
    pub analysis_id: i64,
    pub event: String,
    /// The HTTP status of the last answer (none when the hook could not be reached).
    pub status_code: Option<i64>,
    /// Why the last attempt failed; shows the hook's host, never its URL or secret.
    pub error: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// A hook to create, already checked and sealed (`publish::events::register_hook` makes it).
#[derive(Debug, Clone)]
pub struct NewEventHook {
    pub sealed_url: String,
    pub sealed_secret: String,
    pub url_host: String,
    pub events: Vec<HookEvent>,
}

/// A hook as stored, still sealed (for syncing `FLEXT_QUALITY_EVENT_HOOKS`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedEventHook {
    pub id: i64,
    pub sealed_url: String,
    pub sealed_secret: String,
    /// JSON list of event names.
    pub events: String,
}

/// A delivery not yet made, with where it goes (sealed).
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub id: i64,
    pub hook_id: i64,
    pub event: HookEvent,
    pub previous_verdict: Option<Verdict>,
    /// The last answer's status, if any.
    pub status_code: Option<i64>,
    pub attempts: i64,
    pub url_host: String,
    pub sealed_url: String,
    pub sealed_secret: String,
}

fn verdict(s: &str) -> Option<Verdict> {
    match s {
        "success" => Some(Verdict::Success),
        "failure" => Some(Verdict::Failure),
        "neutral" => Some(Verdict::Neutral),
        _ => None,
    }
}

fn event_names(events: &[HookEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.as_str()).collect()
}

/// Records one delivery per active hook subscribed to each announced event, in the caller's
/// (the save's) transaction; how many were new (a re-saved analysis tells nothing twice).
pub(super) async fn record_deliveries(
    conn: &mut AnyConnection,
    analysis_id: i64,
    announcement: &Announcement,
) -> Result<u64> {
    if announcement.events.is_empty() {
        return Ok(0);
    }
    let hooks: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, events FROM event_hooks WHERE active = 1 ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .context("reading the event hooks")?;
    let now = now_ms();
    let mut inserted = 0;
    for (hook_id, events) in hooks {
        let subscribed: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
        for event in &announcement.events {
            if !subscribed.iter().any(|s| s == event.as_str()) {
                continue;
            }
            let previous = match event {
                HookEvent::GateChanged => announcement.previous_verdict.map(Verdict::as_str),
                HookEvent::AnalysisCompleted => None,
            };
            inserted += sqlx::query(
                "INSERT INTO event_deliveries (hook_id, analysis_id, event, previous_verdict,
                   attempts, created_at)
                 VALUES ($1, $2, $3, $4, 0, $5)
                 ON CONFLICT (hook_id, analysis_id, event) DO NOTHING",
            )
            .bind(hook_id)
            .bind(analysis_id)
            .bind(event.as_str())
            .bind(previous)
            .bind(now)
            .execute(&mut *conn)
            .await
            .context("recording an event delivery")?
            .rows_affected();
        }
    }
    Ok(inserted)
}

/// Creates a hook and audits it (host and events only), in the caller's transaction.
async fn insert_hook(conn: &mut AnyConnection, actor: &str, hook: &NewEventHook) -> Result<i64> {
    let events = event_names(&hook.events);
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO event_hooks (url, secret, events, created_by, created_at, active, url_host)
         VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
    )
    .bind(&hook.sealed_url)
    .bind(&hook.sealed_secret)
    .bind(serde_json::to_string(&events)?)
    .bind(actor)
    .bind(now_ms())
    .bind(&hook.url_host)
    .fetch_one(&mut *conn)
    .await
    .context("creating an event hook")?;
    let after = format!("{} ({})", hook.url_host, events.join(", "));
    audit(
        conn,
        actor,
        "event_hook.create",
        &id.to_string(),
        None,
        Some(&after),
    )
    .await?;
    Ok(id)
}

/// Deactivates a hook and audits it; false when there is no such active hook.
async fn deactivate_hook(conn: &mut AnyConnection, actor: &str, id: i64) -> Result<bool> {
    let host: Option<(String,)> =
        sqlx::query_as("SELECT url_host FROM event_hooks WHERE id = $1 AND active = 1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((host,)) = host else {
        return Ok(false);
    };
    sqlx::query("UPDATE event_hooks SET active = 0 WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .context("removing an event hook")?;
    let before = format!("active ({host})");
    audit(
        conn,
        actor,
        "event_hook.remove",
        &id.to_string(),
        Some(&before),
        Some("removed"),
    )
    .await?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct HookRecord {
    id: i64,
    url_host: String,
    events: String,
    created_by: String,
    created_at: i64,
    active: i64,
}

#[derive(sqlx::FromRow)]
struct DeliveryRecord {
    id: i64,
    hook_id: i64,
    analysis_id: i64,
    event: String,
    status_code: Option<i64>,
    error: Option<String>,
    attempts: i64,
    created_at: i64,
    delivered_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct PendingRecord {
    id: i64,
    hook_id: i64,
    event: String,
    previous_verdict: Option<String>,
    status_code: Option<i64>,
    attempts: i64,
    url_host: String,
    url: String,
    secret: String,
}

const DELIVERY_COLUMNS: &str = "id, hook_id, analysis_id, event, status_code, error, attempts,
    created_at, delivered_at";

impl Store {
    /// Creates a hook, audited. Use `publish::events::register_hook`, which checks and seals.
    pub async fn create_event_hook(&self, actor: &str, hook: &NewEventHook) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id = insert_hook(&mut tx, actor, hook).await?;
        tx.commit().await.context("committing the event hook")?;
        Ok(id)
    }

    /// Stops a hook (its row and delivery log stay), audited; false when there is no such
    /// active hook. Deliveries not yet made to it are not made.
    pub async fn remove_event_hook(&self, actor: &str, id: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let removed = deactivate_hook(&mut tx, actor, id).await?;
        tx.commit().await.context("committing the event hook")?;
        Ok(removed)
    }

    /// Every hook, active or removed, oldest first.
    pub async fn list_event_hooks(&self) -> Result<Vec<EventHook>> {
        let rows: Vec<HookRecord> = sqlx::query_as(
            "SELECT id, url_host, events, created_by, created_at, active FROM event_hooks
             ORDER BY id LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the event hooks")?;
        Ok(rows
            .into_iter()
            .map(|r| EventHook {
                id: r.id,
                url_host: r.url_host,
                events: serde_json::from_str(&r.events).unwrap_or_default(),
                created_by: r.created_by,
                created_at: r.created_at,
                active: flag(r.active),
            })
            .collect())
    }

    /// The delivery log, newest first: of one hook or all, with ids below `cursor`.
    pub async fn list_event_deliveries(
        &self,
        hook: Option<i64>,
        cursor: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventDelivery>> {
        let filter = if hook.is_some() {
            "AND hook_id = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM event_deliveries WHERE id < $1 {filter}
             ORDER BY id DESC LIMIT $2"
        );
        let mut q = sqlx::query_as::<_, DeliveryRecord>(&sql)
            .bind(cursor.unwrap_or(i64::MAX))
            .bind(limit.clamp(1, super::MAX_PAGE));
        if let Some(h) = hook {
            q = q.bind(h);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .context("reading the event delivery log")?;
        Ok(rows
            .into_iter()
            .map(|r| EventDelivery {
                id: r.id,
                hook_id: r.hook_id,
                analysis_id: r.analysis_id,
                event: r.event,
                status_code: r.status_code,
                error: r.error,
                attempts: r.attempts,
                created_at: r.created_at,
                delivered_at: r.delivered_at,
            })
            .collect())
    }

    /// An analysis's deliveries not yet made to hooks still active, oldest first.
    pub async fn pending_event_deliveries(&self, analysis_id: i64) -> Result<Vec<PendingDelivery>> {
        let rows: Vec<PendingRecord> = sqlx::query_as(
            "SELECT d.id, d.hook_id, d.event, d.previous_verdict, d.status_code, d.attempts,
               h.url_host, h.url, h.secret
             FROM event_deliveries d JOIN event_hooks h ON h.id = d.hook_id
             WHERE d.analysis_id = $1 AND d.delivered_at IS NULL AND h.active = 1
             ORDER BY d.id",
        )
        .bind(analysis_id)
        .fetch_all(&self.pool)
        .await
        .context("reading the event deliveries")?;
        rows.into_iter()
            .map(|r| {
                Ok(PendingDelivery {
                    id: r.id,
                    hook_id: r.hook_id,
                    event: r.event.parse().map_err(anyhow::Error::msg)?,
                    previous_verdict: r.previous_verdict.as_deref().and_then(verdict),
                    status_code: r.status_code,
                    attempts: r.attempts,
                    url_host: r.url_host,
                    sealed_url: r.url,
                    sealed_secret: r.secret,
                })
            })
            .collect()
    }

    /// Records one attempt to deliver: the answer's status (if any), why it failed (if it
    /// did), and when it was delivered (if it was).
    pub async fn record_event_attempt(
        &self,
        id: i64,
        status_code: Option<i64>,
        error: Option<&str>,
        delivered: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE event_deliveries SET attempts = attempts + 1, status_code = $2, error = $3,
               delivered_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status_code)
        .bind(error)
        .bind(delivered.then(now_ms))
        .execute(&self.pool)
        .await
        .context("recording an event delivery attempt")?;
        Ok(())
    }

    /// The verdict of the pull request's previous completed analysis (not `analysis_id`).
    pub async fn previous_pr_verdict(
        &self,
        project_id: i64,
        pr_number: i64,
        analysis_id: i64,
    ) -> Result<Option<Verdict>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT verdict FROM analyses
             WHERE project_id = $1 AND pr_number = $2 AND id <> $3 AND status = 'completed'
               AND trigger <> 'base'
             ORDER BY completed_at DESC, id DESC LIMIT 1",
        )
        .bind(project_id)
        .bind(pr_number)
        .bind(analysis_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading the pull request's previous verdict")?;
        Ok(row.and_then(|(v,)| v.as_deref().and_then(verdict)))
    }

    /// The active hooks `FLEXT_QUALITY_EVENT_HOOKS` registered, sealed.
    pub async fn env_event_hooks(&self) -> Result<Vec<SealedEventHook>> {
        sqlx::query_as(
            "SELECT id, url AS sealed_url, secret AS sealed_secret, events FROM event_hooks
             WHERE active = 1 AND created_by = $1 ORDER BY id",
        )
        .bind(ENV_ACTOR)
        .fetch_all(&self.pool)
        .await
        .context("reading the event hooks")
    }

    /// Makes the env hooks what `FLEXT_QUALITY_EVENT_HOOKS` says: removes `remove` and adds
    /// `add`, audited, in one transaction — provided the active env hooks are still `seen`.
    /// False when another instance changed them meanwhile: read them again and retry.
    pub async fn sync_env_event_hooks(
        &self,
        seen: &[i64],
        remove: &[i64],
        add: &[NewEventHook],
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Two servers starting at once must not both add the same hook: the first takes the
        // table's write lock, the second then sees what the first did and starts over.
        let lock = match self.dialect {
            Dialect::Postgres => "LOCK TABLE event_hooks IN SHARE ROW EXCLUSIVE MODE",
            Dialect::Sqlite => "UPDATE event_hooks SET active = active WHERE id < 0",
        };
        sqlx::query(lock).execute(&mut *tx).await?;
        let now: Vec<i64> = sqlx::query_as::<_, (i64,)>(
            "SELECT id FROM event_hooks WHERE active = 1 AND created_by = $1 ORDER BY id",
        )
        .bind(ENV_ACTOR)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        let mut seen = seen.to_vec();
        seen.sort_unstable();
        if now != seen {
            return Ok(false);
        }
        for id in remove {
            deactivate_hook(&mut tx, ENV_ACTOR, *id).await?;
        }
        for hook in add {
            insert_hook(&mut tx, ENV_ACTOR, hook).await?;
        }
        tx.commit().await.context("committing the event hooks")?;
        Ok(true)
    }
}
