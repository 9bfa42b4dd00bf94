//! No lost webhooks: GitHub does not retry a failed delivery, so every
//! `FLEXT_QUALITY_RECONCILE_SECS` one instance (whoever takes the lease) reads the App's
//! delivery list back to its checkpoint and asks GitHub to send again, once, each delivery
//! that failed or that we never recorded — at most [`MAX_PER_CYCLE`] per run, the rest next
//! time.

use super::JobContext;
use anyhow::{Context, Result};

/// Redeliveries asked for in one run.
pub const MAX_PER_CYCLE: usize = 50;
/// Pages of 100 deliveries read in one run.
const MAX_PAGES: usize = 10;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub looked_at: usize,
    pub redelivered: usize,
}

pub async fn reconcile(cx: &JobContext) -> Result<Reconciled> {
    let Some(app) = &cx.github else {
        return Ok(Reconciled::default());
    };
    let checkpoint = cx.store.reconcile_checkpoint().await?;
    // Newest first from GitHub; read back to the checkpoint.
    let mut window = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..MAX_PAGES {
        let (items, next) = app
            .list_deliveries(cursor.as_deref())
            .await
            .context("listing the App's webhook deliveries")?;
        for d in items {
            if d.id <= checkpoint {
                break 'pages;
            }
            window.push(d);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    window.reverse();
    let mut done = Reconciled::default();
    let mut reached = checkpoint;
    for d in &window {
        let failed = !(200..300).contains(&d.status_code);
        let missing = !d.redelivery && !cx.store.delivery_recorded(&d.guid).await?;
        if failed || missing {
            if done.redelivered == MAX_PER_CYCLE {
                break;
            }
            if !d.redelivery && cx.store.record_redelivery(d.id, &d.guid).await? {
                app.redeliver(d.id)
                    .await
                    .with_context(|| format!("asking GitHub to redeliver delivery {}", d.id))?;
                tracing::info!(delivery = d.id, guid = %d.guid, event = %d.event, "asked GitHub to redeliver a missed webhook");
                done.redelivered += 1;
            }
        }
        done.looked_at += 1;
        reached = reached.max(d.id);
    }
    cx.store.set_reconcile_checkpoint(reached).await?;
    Ok(done)
}
