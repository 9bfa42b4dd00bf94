//! What a request to analyse a commit does to the analysis the commit may already have:
//! create one, reuse it, or queue it again. Pure: the store only carries the decision out.

use super::status::AnalysisStatus;

/// The commit's analysis as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    pub status: AnalysisStatus,
    /// A job is queued or running for it.
    pub live_job: bool,
    pub has_check_run: bool,
    /// It knows the pull request (and so the base to compare with).
    pub has_pull_request: bool,
}

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// A user asked to analyse again, even if the commit was analysed.
    pub force: bool,
    pub has_pull_request: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No analysis of the commit yet: create one and queue a job.
    Create,
    /// The analysis stands (done, or on its way): nothing to queue. When it has not started
    /// yet and the request knows the pull request while it did not, it adopts that context.
    Reuse { adopt_pull_request: bool },
    /// Queue the analysis again (a re-run, an earlier failure, or a check run never made),
    /// with a fresh check run.
    Requeue,
}

pub fn decide(existing: Option<&Existing>, request: &Request) -> Decision {
    let Some(e) = existing else {
        return Decision::Create;
    };
    let needs_run =
        !e.live_job && (request.force || e.status == AnalysisStatus::Failed || !e.has_check_run);
    if needs_run {
        return Decision::Requeue;
    }
    Decision::Reuse {
        adopt_pull_request: e.status == AnalysisStatus::Queued
            && !e.has_pull_request
            && request.has_pull_request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisStatus::*;

    fn existing(status: AnalysisStatus, live_job: bool, has_check_run: bool, pr: bool) -> Existing {
        Existing {
            status,
            live_job,
            has_check_run,
            has_pull_request: pr,
        }
    }

    #[test]
    fn decision_table() {
        let plain = Request {
            force: false,
            has_pull_request: false,
        };
        let rerun = Request {
            force: true,
            has_pull_request: false,
        };
        let from_pr = Request {
            force: false,
            has_pull_request: true,
        };
        let reuse = Decision::Reuse {
            adopt_pull_request: false,
        };
        for (case, e, r, want) in [
            ("first request", None, plain, Decision::Create),
            (
                "redelivered while queued",
                Some(existing(Queued, true, false, false)),
                plain,
                reuse,
            ),
            (
                "done before",
                Some(existing(Completed, false, true, false)),
                plain,
                reuse,
            ),
            (
                "re-run of a done analysis",
                Some(existing(Completed, false, true, false)),
                rerun,
                Decision::Requeue,
            ),
            (
                "re-run while running",
                Some(existing(Running, true, true, false)),
                rerun,
                reuse,
            ),
            (
                "failed before",
                Some(existing(Failed, false, true, false)),
                plain,
                Decision::Requeue,
            ),
            // A base analysis left behind without a job or check run must not block a trigger.
            (
                "orphaned base analysis",
                Some(existing(Running, false, false, false)),
                plain,
                Decision::Requeue,
            ),
            (
                "pull request context arrives while queued",
                Some(existing(Queued, true, false, false)),
                from_pr,
                Decision::Reuse {
                    adopt_pull_request: true,
                },
            ),
            (
                "running keeps its context",
                Some(existing(Running, true, true, false)),
                from_pr,
                reuse,
            ),
        ] {
            assert_eq!(decide(e.as_ref(), &r), want, "{case}");
        }
    }
}
