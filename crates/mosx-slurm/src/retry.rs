//! Whether a job that ended without success is submitted again, and with what memory.
//!
//! Jobs are submitted with `--no-requeue`: Slurm never runs a job twice by itself, so the
//! caller stays in control of what runs again and of what waits on it (a requeued job keeps
//! its id, but its dependents were already judged on its first end). This module is that
//! caller's rule, one pure function of the job's final state ([`RetryPolicy::decide`]):
//!
//! * `NODE_FAIL`, `BOOT_FAIL` ([`JobState::NodeFail`]) and `PREEMPTED`: the job did nothing
//!   wrong; it is submitted again as it was.
//! * `OUT_OF_MEMORY`: submitted again with its `mem` doubled, capped by `max_mem`; not when
//!   it asked for no `mem` (there is nothing to double: Slurm's default applied), when no
//!   `max_mem` is set (doubling without a bound would ask for ever more), or when it
//!   already had `max_mem`.
//! * Anything else (a non-zero exit, a timeout, a cancellation, a dependency that failed):
//!   not submitted again; running the same command once more would end the same way.
//!
//! Invariants: at most `retries` resubmissions per job (a job runs at most `retries + 1`
//! times); a resubmission never asks for more than `max_mem`; a policy with `retries: 0`
//! (the default) never resubmits.

use serde::{Deserialize, Serialize};

use crate::{JobState, Memory};

/// How often, and up to what memory, a job is submitted again (a spec's `retries` and
/// `max_mem`, beside its resources). Every field is optional so an entry can be merged over
/// a default ([`RetryPolicy::or`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Resubmissions allowed after a node failure, a preemption or running out of memory;
    /// unset is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// The most memory a job resubmitted after `OUT_OF_MEMORY` asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mem: Option<Memory>,
}

/// What to do with a job that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// Submit it again, asking for `mem` (the same as before unless it ran out of memory).
    Resubmit { mem: Option<Memory> },
    /// Leave it failed.
    No(NoRetry),
}

/// Why a job that ended is not submitted again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRetry {
    /// It succeeded, or failed in a way another run would repeat.
    #[error("its end is not one a resubmission can mend")]
    NotRetriable,
    /// It was resubmitted as often as `retries` allows.
    #[error("resubmitted {retries} time(s) already (retries: {retries})")]
    Exhausted { retries: u32 },
    /// Out of memory, but it asked for no `mem`: there is nothing to double.
    #[error("out of memory without a `mem` to double")]
    NoMem,
    /// Out of memory, and no `max_mem` bounds a larger request.
    #[error("out of memory with mem {mem}; set `max_mem` to resubmit with more")]
    NoMaxMem { mem: Memory },
    /// Out of memory with `max_mem` already.
    #[error("out of memory with mem {mem}, which is max_mem already")]
    AtMaxMem { mem: Memory },
}

impl RetryPolicy {
    /// This policy, with each field that is `None` taken from `defaults`.
    pub fn or(self, defaults: &RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries.or(defaults.retries),
            max_mem: self.max_mem.or(defaults.max_mem),
        }
    }

    /// The number of resubmissions allowed.
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(0)
    }

    /// What to do with a job that ended in `state`, asking for `mem`, after it was
    /// resubmitted `resubmitted` times already (see the module note).
    pub fn decide(&self, state: &JobState, resubmitted: u32, mem: Option<Memory>) -> Retry {
        let retriable = matches!(
            state,
            JobState::NodeFail | JobState::Preempted | JobState::OutOfMemory
        );
        if !retriable {
            return Retry::No(NoRetry::NotRetriable);
        }
        if resubmitted >= self.retries() {
            return Retry::No(NoRetry::Exhausted {
                retries: self.retries(),
            });
        }
        if *state != JobState::OutOfMemory {
            return Retry::Resubmit { mem };
        }
        let Some(mem) = mem else {
            return Retry::No(NoRetry::NoMem);
        };
        let Some(max) = self.max_mem else {
            return Retry::No(NoRetry::NoMaxMem { mem });
        };
        if mem >= max {
            return Retry::No(NoRetry::AtMaxMem { mem });
        }
        let doubled = Memory::from_mebibytes(mem.mebibytes().saturating_mul(2));
        Retry::Resubmit {
            mem: Some(doubled.min(max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(s: &str) -> Memory {
        s.parse().unwrap()
    }

    fn policy(retries: u32, max_mem: Option<&str>) -> RetryPolicy {
        RetryPolicy {
            retries: Some(retries),
            max_mem: max_mem.map(mem),
        }
    }

    #[test]
    fn node_failures_and_preemptions_resubmit_the_same_request() {
        let p = policy(2, None);
        for state in [JobState::NodeFail, JobState::Preempted] {
            assert_eq!(
                p.decide(&state, 0, Some(mem("1G"))),
                Retry::Resubmit {
                    mem: Some(mem("1G"))
                }
            );
            assert_eq!(p.decide(&state, 1, None), Retry::Resubmit { mem: None });
            assert_eq!(
                p.decide(&state, 2, None),
                Retry::No(NoRetry::Exhausted { retries: 2 })
            );
        }
    }

    #[test]
    fn out_of_memory_doubles_mem_up_to_max_mem() {
        let p = policy(5, Some("3G"));
        let oom = JobState::OutOfMemory;
        assert_eq!(
            p.decide(&oom, 0, Some(mem("1G"))),
            Retry::Resubmit {
                mem: Some(mem("2G"))
            }
        );
        // Capped: 2G doubled is 4G, above max_mem.
        assert_eq!(
            p.decide(&oom, 1, Some(mem("2G"))),
            Retry::Resubmit {
                mem: Some(mem("3G"))
            }
        );
        assert_eq!(
            p.decide(&oom, 2, Some(mem("3G"))),
            Retry::No(NoRetry::AtMaxMem { mem: mem("3G") })
        );
        assert_eq!(
            p.decide(&oom, 5, Some(mem("1G"))),
            Retry::No(NoRetry::Exhausted { retries: 5 })
        );
    }

    #[test]
    fn out_of_memory_without_mem_or_max_mem_is_not_resubmitted() {
        let oom = JobState::OutOfMemory;
        assert_eq!(
            policy(3, Some("8G")).decide(&oom, 0, None),
            Retry::No(NoRetry::NoMem)
        );
        assert_eq!(
            policy(3, None).decide(&oom, 0, Some(mem("1G"))),
            Retry::No(NoRetry::NoMaxMem { mem: mem("1G") })
        );
    }

    #[test]
    fn other_ends_are_never_resubmitted() {
        let p = policy(10, Some("64G"));
        for state in [
            JobState::Completed,
            JobState::Failed {
                exit_code: 1,
                signal: 0,
            },
            JobState::Cancelled,
            JobState::Timeout,
            JobState::DependencyNeverSatisfied,
            JobState::Gone,
        ] {
            assert_eq!(
                p.decide(&state, 0, Some(mem("1G"))),
                Retry::No(NoRetry::NotRetriable),
                "{state:?}"
            );
        }
    }

    #[test]
    fn no_retries_by_default() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(&JobState::NodeFail, 0, None),
            Retry::No(NoRetry::Exhausted { retries: 0 })
        );
    }

    #[test]
    fn a_policy_reads_from_a_spec_entry_and_merges_over_a_default() {
        let kind: RetryPolicy = serde_json::from_str(r#"{"max_mem": "16G"}"#).unwrap();
        let default: RetryPolicy =
            serde_json::from_str(r#"{"retries": 2, "max_mem": 4096}"#).unwrap();
        assert_eq!(default.max_mem, Some(mem("4G")));
        assert_eq!(kind.or(&default), policy(2, Some("16G")));
        let e = serde_json::from_str::<RetryPolicy>(r#"{"max_mem": "4X"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid mem `4X`"), "{e}");
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"retries": -1}"#).is_err());
    }
}
