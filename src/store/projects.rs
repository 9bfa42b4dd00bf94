//! Installations and projects (repositories, keyed by GitHub's numeric id).

use super::{now_ms, Store};
use crate::domain::events::Project;
use anyhow::{Context, Result};
use sqlx::AnyConnection;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct ProjectRow {
    id: i64,
    installation_id: Option<i64>,
    full_name: String,
    default_branch: String,
    clone_url: String,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Project {
        Project {
            id: r.id,
            installation_id: r.installation_id,
            full_name: r.full_name,
            default_branch: r.default_branch,
            clone_url: r.clone_url,
        }
    }
}

impl Store {
    /// When the project was archived (its repository removed from the installation), if it is.
    pub async fn project_archived_at(&self, id: i64) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT archived_at FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .context("reading a project")?;
        Ok(row.and_then(|r| r.0))
    }

    pub async fn get_project(&self, id: i64) -> Result<Option<Project>> {
        let row: Option<ProjectRow> = sqlx::query_as(
            "SELECT id, installation_id, full_name, default_branch, clone_url FROM projects WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("loading project")?;
        Ok(row.map(Project::from))
    }

    /// A project by its `owner/name` (GitHub's names are case-insensitive).
    pub async fn find_project(&self, full_name: &str) -> Result<Option<Project>> {
        let row: Option<ProjectRow> = sqlx::query_as(
            "SELECT id, installation_id, full_name, default_branch, clone_url FROM projects
             WHERE LOWER(full_name) = LOWER($1)",
        )
        .bind(full_name)
        .fetch_optional(&self.pool)
        .await
        .context("looking up a project")?;
        Ok(row.map(Project::from))
    }

    /// Sets (sealed) or clears the project's own Slack destination.
    pub async fn set_slack_webhook(&self, project_id: i64, sealed: Option<&str>) -> Result<bool> {
        let n =
            sqlx::query("UPDATE projects SET slack_webhook = $2, updated_at = $3 WHERE id = $1")
                .bind(project_id)
                .bind(sealed)
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .context("setting a project's Slack destination")?
                .rows_affected();
        Ok(n == 1)
    }

    /// The project's own Slack destination, sealed, if it has one.
    pub async fn slack_webhook(&self, project_id: i64) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT slack_webhook FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await
                .context("reading a project's Slack destination")?;
        Ok(row.and_then(|r| r.0))
    }
}

pub(super) async fn upsert_installation(
    conn: &mut AnyConnection,
    id: i64,
    account_login: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO installations (id, account_login, suspended, created_at, updated_at)
         VALUES ($1, $2, 0, $3, $3)
         ON CONFLICT (id) DO UPDATE SET account_login = excluded.account_login,
           suspended = 0, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(account_login)
    .bind(now)
    .execute(conn)
    .await
    .context("saving installation")?;
    Ok(())
}

pub(super) async fn delete_installation(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE projects SET installation_id = NULL, updated_at = $2 WHERE installation_id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // Kept as a tombstone (suspended = 2): work that arrives for it later is not started.
    sqlx::query(
        "INSERT INTO installations (id, account_login, suspended, created_at, updated_at)
         VALUES ($1, '', 2, $2, $2)
         ON CONFLICT (id) DO UPDATE SET suspended = 2, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await
    .context("recording an uninstalled installation")?;
    Ok(())
}

pub(super) async fn suspend_installation(
    conn: &mut AnyConnection,
    id: i64,
    suspended: bool,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE installations SET suspended = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(suspended))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn detach_project(
    conn: &mut AnyConnection,
    installation_id: i64,
    project_id: i64,
    now: i64,
) -> Result<()> {
    // Archived, not deleted: its history stays for the dashboard and the API.
    sqlx::query(
        "UPDATE projects SET installation_id = NULL, archived_at = $3, updated_at = $3
         WHERE id = $1 AND installation_id = $2",
    )
    .bind(project_id)
    .bind(installation_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    super::lifecycle::halt_project(conn, project_id, super::lifecycle::REMOVED).await?;
    Ok(())
}

/// Creates or updates a project. An empty clone URL or default branch (installation payloads
/// carry neither) never overwrites a known one.
pub(super) async fn upsert_project(conn: &mut AnyConnection, p: &Project) -> Result<()> {
    sqlx::query(
        "INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (id) DO UPDATE SET
           installation_id = COALESCE(excluded.installation_id, projects.installation_id),
           archived_at = CASE WHEN excluded.installation_id IS NULL THEN projects.archived_at ELSE NULL END,
           full_name = excluded.full_name,
           default_branch = CASE WHEN excluded.default_branch = '' THEN projects.default_branch ELSE excluded.default_branch END,
           clone_url = CASE WHEN excluded.clone_url = '' THEN projects.clone_url ELSE excluded.clone_url END,
           updated_at = excluded.updated_at",
    )
    .bind(p.id)
    .bind(p.installation_id)
    .bind(&p.full_name)
    .bind(&p.default_branch)
    .bind(&p.clone_url)
    .bind(now_ms())
    .execute(conn)
    .await
    .with_context(|| format!("saving project {}", p.full_name))?;
    Ok(())
}
