//! The states and kinds the app keeps in the database, as enums: stored as text, typed in
//! Rust, so nothing compares strings.

use std::fmt;
use std::str::FromStr;

/// Declares an enum stored as text: `as_str`, `Display`, `FromStr`, serde, and `TryFrom<String>`
/// (what `sqlx::FromRow` uses to read the column).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{other}`",
                        stringify!($name)
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

text_enum!(
    /// Where an analysis is in its life.
    AnalysisStatus {
        Queued => "queued",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        /// Superseded or stopped before it finished.
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// What asked for an analysis.
    Trigger {
        PullRequest => "pull_request",
        Push => "push",
        CheckSuite => "check_suite",
        CheckRun => "check_run",
        /// A user asked for a re-run (a comment, the check run's button).
        Rerun => "rerun",
        /// Analysed only as another analysis's comparison base.
        Base => "base",
    }
);

text_enum!(
    /// What a job does.
    JobKind {
        /// Fetch, analyse, judge and save one analysis.
        Analyse => "analyse",
        /// Publish one saved analysis to one sink (an outbox task).
        Publish => "publish",
        /// A command from a comment (`/flext-quality rerun`).
        Command => "command",
    }
);

text_enum!(
    JobState {
        Queued => "queued",
        Running => "running",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// Where an analysis's outcome is published; one outbox task per sink.
    Sink {
        CheckRun => "check_run",
        PrComment => "pr_comment",
        Slack => "slack",
        /// Operators' event hooks (`analysis.completed`, `gate.changed`).
        Events => "events",
    }
);

text_enum!(
    /// What an event hook can subscribe to; the name is the `X-Flext-Quality-Event` header.
    HookEvent {
        /// Every analysis that completed with a result.
        AnalysisCompleted => "analysis.completed",
        /// The gate went from passing to failing or back (`domain::outgoing`).
        GateChanged => "gate.changed",
    }
);

text_enum!(
    PublishState {
        Pending => "pending",
        Done => "done",
        Failed => "failed",
    }
);

text_enum!(
    /// What a delivery led to.
    DeliveryOutcome {
        Pending => "pending",
        Duplicate => "duplicate",
        Enqueued => "enqueued",
        Reused => "reused",
        Recorded => "recorded",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_text() {
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = String>,
        {
            for v in all {
                assert_eq!(v.to_string().parse::<T>(), Ok(*v));
            }
        }
        check(AnalysisStatus::ALL);
        check(Trigger::ALL);
        check(JobKind::ALL);
        check(JobState::ALL);
        check(Sink::ALL);
        check(PublishState::ALL);
        check(DeliveryOutcome::ALL);
        check(HookEvent::ALL);
        assert!("Completed".parse::<AnalysisStatus>().is_err());
        assert_eq!(
            serde_json::to_string(&Trigger::PullRequest).unwrap(),
            "\"pull_request\""
        );
    }
}

text_enum!(
    /// What someone may do: read (viewer), also trigger analyses and change project settings
    /// (maintainer), also change the policy, roles and API keys (admin).
    Role {
        Viewer => "viewer",
        Maintainer => "maintainer",
        Admin => "admin",
    }
);

impl Role {
    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        let rank = |r: Role| match r {
            Role::Viewer => 0,
            Role::Maintainer => 1,
            Role::Admin => 2,
        };
        rank(self) >= rank(needed)
    }
}
