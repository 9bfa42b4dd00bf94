//! People and keys, and the audit log: who signed in (and which installations they can see on
//! GitHub), roles granted by admins, API keys (only their hash is stored), the server policy
//! kept in the database — and every change to any of them recorded with who, when, what,
//! before and after, in the same transaction as the change. Nothing here edits the log.

use super::{now_ms, Store};
use crate::domain::status::Role;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

/// Someone who signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub login: String,
    /// The role an admin granted (viewer unless granted more).
    pub role: Role,
    pub installations: Vec<i64>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// `viewer`, `maintainer` or `admin`.
    pub role: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Records a change, in the caller's transaction.
pub(super) async fn audit(
    conn: &mut AnyConnection,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, before_value, after_value)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(before)
    .bind(after)
    .execute(conn)
    .await
    .context("recording an audit entry")?;
    Ok(())
}

type AuditRecord = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The SHA-256 of an API key, as stored.
pub fn key_hash(key: &str) -> String {
    crate::domain::fingerprint::digest_hex(key.as_bytes())
}

#[derive(sqlx::FromRow)]
struct KeyRecord {
    id: i64,
    name: String,
    role: String,
    prefix: String,
    created_by: String,
    created_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl From<KeyRecord> for ApiKey {
    fn from(r: KeyRecord) -> ApiKey {
        ApiKey {
            id: r.id,
            name: r.name,
            role: r.role,
            prefix: r.prefix,
            created_by: r.created_by,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

const KEY_COLUMNS: &str =
    "id, name, role, prefix, created_by, created_at, revoked_at, last_used_at";

impl Store {
    /// Records a sign-in: the installations the person can see now; their role stays.
    pub async fn sign_in(&self, login: &str, installations: &[i64]) -> Result<User> {
        let login = login.to_lowercase();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO users (login, role, installations, created_at, updated_at, last_seen_at)
             VALUES ($1, 'viewer', $2, $3, $3, $3)
             ON CONFLICT (login) DO UPDATE SET installations = excluded.installations,
               updated_at = excluded.updated_at, last_seen_at = excluded.last_seen_at",
        )
        .bind(&login)
        .bind(serde_json::to_string(installations)?)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("recording a sign-in")?;
        self.user(&login)
            .await?
            .context("the user was just recorded")
    }

    pub async fn user(&self, login: &str) -> Result<Option<User>> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT login, role, installations FROM users WHERE login = $1")
                .bind(login.to_lowercase())
                .fetch_optional(&self.pool)
                .await
                .context("reading a user")?;
        Ok(row.map(|(login, role, installations)| User {
            login,
            role: role.parse().unwrap_or(Role::Viewer),
            installations: serde_json::from_str(&installations).unwrap_or_default(),
        }))
    }

    /// Grants `role` to `login` (who may not have signed in yet).
    pub async fn grant_role(&self, actor: &str, login: &str, role: Role) -> Result<()> {
        let login = login.to_lowercase();
        let before = self.user(&login).await?.map(|u| u.role.as_str().to_owned());
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO users (login, role, installations, created_at, updated_at)
             VALUES ($1, $2, '[]', $3, $3)
             ON CONFLICT (login) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at",
        )
        .bind(&login)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("granting a role")?;
        audit(
            &mut tx,
            actor,
            "role.grant",
            &login,
            before.as_deref(),
            Some(role.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates an API key; returns it listed and the key itself (shown once, never stored).
    pub async fn create_api_key(
        &self,
        actor: &str,
        name: &str,
        role: Role,
    ) -> Result<(ApiKey, String)> {
        let mut bytes = [0u8; 24];
        openssl::rand::rand_bytes(&mut bytes).context("random key")?;
        let key = format!(
            "fq_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let prefix = key[..10].to_owned();
        let mut tx = self.pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_keys (name, role, prefix, hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(&prefix)
        .bind(key_hash(&key))
        .bind(actor)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await
        .context("creating an API key")?;
        let after = format!("{name} ({}, {prefix}…)", role.as_str());
        audit(
            &mut tx,
            actor,
            "api_key.create",
            &id.to_string(),
            None,
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        let listed = self
            .api_key(id)
            .await?
            .context("the key was just created")?;
        Ok((listed, key))
    }

    pub async fn api_key(&self, id: i64) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row: Option<KeyRecord> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(ApiKey::from))
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id LIMIT 1000");
        let rows: Vec<KeyRecord> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// Revokes a key; false when there is no such key or it was revoked already.
    pub async fn revoke_api_key(&self, actor: &str, id: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let n =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 1 {
            audit(
                &mut tx,
                actor,
                "api_key.revoke",
                &id.to_string(),
                Some("active"),
                Some("revoked"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The live key a bearer token is, if any (its last use recorded).
    pub async fn authenticate_key(&self, key: &str) -> Result<Option<ApiKey>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1 AND revoked_at IS NULL");
        let row: Option<KeyRecord> = sqlx::query_as(&sql)
            .bind(key_hash(key))
            .fetch_optional(&self.pool)
            .await?;
        if let Some(k) = &row {
            sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                .bind(k.id)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
        }
        Ok(row.map(ApiKey::from))
    }

    /// The audit log, newest first, before `cursor`.
    pub async fn list_audit(&self, cursor: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRecord> = sqlx::query_as(
            "SELECT id, at, actor, action, target, before_value, after_value FROM audit_log
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(cursor.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, super::MAX_PAGE))
        .fetch_all(&self.pool)
        .await
        .context("reading the audit log")?;
        Ok(rows
            .into_iter()
            .map(
                |(id, at, actor, action, target, before, after)| AuditEntry {
                    id,
                    at,
                    actor,
                    action,
                    target,
                    before,
                    after,
                },
            )
            .collect())
    }

    /// The server policy set through the app (TOML), if any.
    pub async fn policy_text(&self) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM settings WHERE name = 'policy'")
                .fetch_optional(&self.pool)
                .await
                .context("reading the policy")?;
        Ok(row.map(|r| r.0))
    }

    /// Replaces the server policy (already validated); `before` is what was in force.
    pub async fn set_policy(&self, actor: &str, before: &str, text: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO settings (name, value, updated_at) VALUES ('policy', $1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(text)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .context("saving the policy")?;
        audit(
            &mut tx,
            actor,
            "policy.update",
            "server policy",
            Some(before),
            Some(text),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets or clears a project's own Slack destination (sealed), audited (the URL never is).
    pub async fn set_project_slack_audited(
        &self,
        actor: &str,
        project_id: i64,
        sealed: Option<&str>,
    ) -> Result<bool> {
        let before = self.slack_webhook(project_id).await?;
        let mut tx = self.pool.begin().await?;
        let n =
            sqlx::query("UPDATE projects SET slack_webhook = $2, updated_at = $3 WHERE id = $1")
                .bind(project_id)
                .bind(sealed)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let said = |v: Option<&str>| {
            if v.is_some() {
                "own webhook"
            } else {
                "SLACK_WEBHOOK_URL"
            }
        };
        audit(
            &mut tx,
            actor,
            "project.slack",
            &project_id.to_string(),
            Some(said(before.as_deref())),
            Some(said(sealed)),
        )
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}

/// The `settings` name under which a one-time sign-in token's hash is kept.
fn signin_setting(hash: &str) -> String {
    format!("signin_token:{hash}")
}

impl Store {
    /// Keeps a one-time sign-in token (by its hash) until `expires_at`.
    pub async fn create_signin_token(&self, token: &str, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)")
            .bind(signin_setting(&key_hash(token)))
            .bind(expires_at.to_string())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .context("keeping a sign-in token")?;
        Ok(())
    }

    /// Uses up a sign-in token: true once, when it exists and has not expired.
    pub async fn consume_signin_token(&self, token: &str) -> Result<bool> {
        let name = signin_setting(&key_hash(token));
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(&name)
            .fetch_optional(&self.pool)
            .await
            .context("reading a sign-in token")?;
        let Some((expires,)) = row else {
            return Ok(false);
        };
        // The delete decides between two concurrent uses: only one removes the row.
        let removed = sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(&name)
            .execute(&self.pool)
            .await
            .context("using a sign-in token")?
            .rows_affected();
        Ok(removed == 1 && expires.parse::<i64>().unwrap_or(0) > now_ms())
    }
}
