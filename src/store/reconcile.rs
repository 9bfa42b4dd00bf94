//! What reconciliation remembers: how far back GitHub's delivery list was read (a checkpoint),
//! which deliveries it asked to be sent again (each at most once), and a lease so only one
//! instance reconciles at a time.

use super::{now_ms, Store};
use anyhow::{Context, Result};

const CHECKPOINT: &str = "reconcile";
const LOCK: &str = "reconcile_lock";

impl Store {
    /// Takes the reconcile lease for `lease_ms`; false while another instance holds it.
    pub async fn take_reconcile_lease(&self, lease_ms: i64) -> Result<bool> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO checkpoints (name, value, updated_at) VALUES ($1, 0, $2)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(LOCK)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let n = sqlx::query(
            "UPDATE checkpoints SET value = $2, updated_at = $3 WHERE name = $1 AND value < $3",
        )
        .bind(LOCK)
        .bind(now + lease_ms)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("taking the reconcile lease")?
        .rows_affected();
        Ok(n == 1)
    }

    /// The newest delivery id already looked at (0 before the first run).
    pub async fn reconcile_checkpoint(&self) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT value FROM checkpoints WHERE name = $1")
            .bind(CHECKPOINT)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map_or(0, |r| r.0))
    }

    pub async fn set_reconcile_checkpoint(&self, delivery_id: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO checkpoints (name, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(CHECKPOINT)
        .bind(delivery_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("saving the reconcile checkpoint")?;
        Ok(())
    }

    /// Whether the delivery with this GUID reached us and was recorded.
    pub async fn delivery_recorded(&self, guid: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM deliveries WHERE delivery_id = $1")
                .bind(guid)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Records a redelivery request; false when one was already made for this GUID.
    pub async fn record_redelivery(&self, delivery_id: i64, guid: &str) -> Result<bool> {
        if sqlx::query("SELECT 1 FROM redeliveries WHERE guid = $1")
            .bind(guid)
            .fetch_optional(&self.pool)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let n = sqlx::query(
            "INSERT INTO redeliveries (delivery_id, guid, requested_at) VALUES ($1, $2, $3)
             ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(guid)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("recording a redelivery")?
        .rows_affected();
        Ok(n == 1)
    }
}
