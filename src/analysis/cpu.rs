//! How many cores the analysis tools keep busy at once.
//!
//! One budget is shared by every analysis that uses the same jail: a pull request's head and
//! base analysed together, the jobs of one worker process. Bandit is sharded over the cores and
//! Ruff spreads its threads over them; without a shared count, those would run beside MyPy and
//! the other commit's tools with several processes on each core, and all of them would finish
//! late. Each tool run takes its cores before it starts and gives them back when it ends.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// More cores than this are not used by default: past it, the tools' start-up and the
/// machine's memory matter more than the parallelism.
pub const DEFAULT_MAX_CORES: usize = 16;

/// The cores of this machine the tools may use when nothing is configured.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, DEFAULT_MAX_CORES)
}

/// A count of cores shared by clones. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CpuBudget {
    cores: usize,
    free: Arc<Semaphore>,
}

/// Cores taken from a [`CpuBudget`], given back when dropped.
#[derive(Debug)]
pub struct CpuGrant {
    cores: usize,
    _permits: OwnedSemaphorePermit,
}

impl CpuGrant {
    pub fn cores(&self) -> usize {
        self.cores
    }
}

impl CpuBudget {
    pub fn new(cores: usize) -> CpuBudget {
        let cores = cores.max(1);
        CpuBudget {
            cores,
            free: Arc::new(Semaphore::new(cores)),
        }
    }

    /// How many cores the budget has in all.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// One core, when one is free: for a tool that runs on one.
    pub async fn one(&self) -> CpuGrant {
        let permits = self
            .free
            .clone()
            .acquire_many_owned(1)
            .await
            .expect("the budget's semaphore is never closed");
        CpuGrant {
            cores: 1,
            _permits: permits,
        }
    }

    /// One core when one is free, plus whatever other cores are free at that moment, up to
    /// `most`: for a tool that spreads its threads over the cores it is told it has. It never
    /// waits for more than one, so a core left idle by a long single-core tool is not held
    /// back from the others.
    pub async fn up_to(&self, most: usize) -> CpuGrant {
        let mut permits = self
            .free
            .clone()
            .acquire_many_owned(1)
            .await
            .expect("the budget's semaphore is never closed");
        let mut cores = 1;
        while cores < most.min(self.cores) {
            match self.free.clone().try_acquire_owned() {
                Ok(more) => {
                    permits.merge(more);
                    cores += 1;
                }
                Err(_) => break,
            }
        }
        CpuGrant {
            cores,
            _permits: permits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grants_share_the_cores_and_give_them_back() {
        let budget = CpuBudget::new(3);
        let wide = budget.up_to(8).await;
        assert_eq!(
            wide.cores(),
            3,
            "all free cores, never more than the budget"
        );
        let clone = budget.clone();
        let waiting = tokio::spawn(async move { clone.one().await.cores() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "no core is free while the wide grant lives"
        );
        drop(wide);
        assert_eq!(waiting.await.unwrap(), 1);

        let one = budget.one().await;
        let rest = budget.up_to(8).await;
        assert_eq!(rest.cores(), 2, "only what is free now");
        drop((one, rest));
        assert_eq!(budget.up_to(2).await.cores(), 2, "at most what is asked");
    }

    #[test]
    fn a_budget_has_at_least_one_core() {
        assert_eq!(CpuBudget::new(0).cores(), 1);
        assert!((1..=DEFAULT_MAX_CORES).contains(&available_cores()));
    }
}
