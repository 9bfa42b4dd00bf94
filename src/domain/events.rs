//! What a webhook delivery asks of flext-quality, once its payload has been read at the edge:
//! bookkeeping about installations and repositories, or a commit to analyse.

use super::status::Trigger;

/// A repository as GitHub names it; its numeric id is the project's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: i64,
    pub installation_id: Option<i64>,
    pub full_name: String,
    /// Empty when the payload does not say (installation events); never overwrites a known one.
    pub default_branch: String,
    /// Empty when the payload does not say; never overwrites a known one.
    pub clone_url: String,
}

/// A request to analyse one commit of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRequest {
    pub project: Project,
    pub sha: String,
    pub trigger: Trigger,
    /// Ref to fetch for the commit (`refs/pull/7/head`, `refs/heads/main`).
    pub head_ref: Option<String>,
    /// Ref of the branch to compare with (`refs/heads/main`), for pull requests.
    pub base_ref: Option<String>,
    /// For a pull request the base branch's tip; for a push the commit it replaced.
    pub base_sha: Option<String>,
    pub pr_number: Option<i64>,
    /// A re-run asked for by a user: analyse again even if the commit was analysed.
    pub force: bool,
    /// Who pushed, opened the pull request or asked for the run (a GitHub login).
    pub requested_by: Option<String>,
}

/// What one delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Recorded, nothing to do; the reason is logged.
    Ignored(String),
    InstallationCreated {
        id: i64,
        account_login: String,
        repositories: Vec<Project>,
    },
    InstallationDeleted {
        id: i64,
    },
    InstallationSuspended {
        id: i64,
        suspended: bool,
    },
    RepositoriesAdded {
        installation_id: i64,
        repositories: Vec<Project>,
    },
    RepositoriesRemoved {
        installation_id: i64,
        repository_ids: Vec<i64>,
    },
    ProjectRenamed(Project),
    Analyse(AnalysisRequest),
    /// `/flext-quality rerun` on a pull request: run a fresh analysis of its head if `user`
    /// may write to the repository (checked by the job, with GitHub).
    RerunRequested {
        project: Project,
        pr_number: i64,
        user: String,
    },
}

/// What a command job is asked to do, as stored with the job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Rerun {
        project_id: i64,
        pr_number: i64,
        user: String,
    },
    /// Someone with the maintainer role asked (through the API) for an analysis of a branch,
    /// tag or commit; the job resolves it in the mirror.
    AnalyseRef {
        project_id: i64,
        git_ref: String,
        user: String,
    },
}

impl Project {
    fn texts(&self) -> [&str; 3] {
        [&self.full_name, &self.default_branch, &self.clone_url]
    }
}

impl Event {
    /// The text the store keeps from this event (names, refs, SHAs, logins); an `Ignored`
    /// reason is only logged.
    pub fn stored_texts(&self) -> Vec<&str> {
        match self {
            Event::Ignored(_)
            | Event::InstallationDeleted { .. }
            | Event::InstallationSuspended { .. }
            | Event::RepositoriesRemoved { .. } => Vec::new(),
            Event::InstallationCreated {
                account_login,
                repositories,
                ..
            } => std::iter::once(account_login.as_str())
                .chain(repositories.iter().flat_map(Project::texts))
                .collect(),
            Event::RepositoriesAdded { repositories, .. } => {
                repositories.iter().flat_map(Project::texts).collect()
            }
            Event::ProjectRenamed(p) => p.texts().to_vec(),
            Event::Analyse(r) => {
                let mut t = r.project.texts().to_vec();
                t.push(&r.sha);
                t.extend(
                    [&r.head_ref, &r.base_ref, &r.base_sha, &r.requested_by]
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                );
                t
            }
            Event::RerunRequested { project, user, .. } => {
                let mut t = project.texts().to_vec();
                t.push(user);
                t
            }
        }
    }
}
