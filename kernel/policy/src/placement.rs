//! Where a task runs: the CPU a new or woken task is queued on (an idle CPU first, its
//! last CPU when that is idle, else the least loaded) and which CPU an idle one steals
//! from (the one with the most tasks it may take). Pure functions over a load snapshot.

/// One CPU as the scheduler sees it at a glance (a racy snapshot: a hint, not a promise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuLoad {
    /// The CPU is online and schedules tasks.
    pub online: bool,
    /// It runs its idle task.
    pub idle: bool,
    /// Tasks in its run queue.
    pub queued: u32,
    /// Of those, tasks another CPU may take (not pinned here).
    pub stealable: u32,
}

impl CpuLoad {
    fn free(&self) -> bool {
        self.online && self.idle && self.queued == 0
    }

    /// Runnable tasks on the CPU, the running one included.
    fn load(&self) -> u32 {
        self.queued + u32::from(!self.idle)
    }
}

/// The CPU to queue a task on that may run anywhere: its `last` CPU if that is idle, else
/// the first idle CPU after `this` (spreading a burst of spawns), else the least loaded
/// online CPU, preferring `last` and then `this` on ties. Falls back to `this`.
pub fn select_cpu(loads: &[CpuLoad], last: usize, this: usize) -> usize {
    if loads.get(last).is_some_and(CpuLoad::free) {
        return last;
    }
    let n = loads.len();
    if let Some(cpu) = (1..=n).map(|i| (this + i) % n).find(|&c| loads[c].free()) {
        return cpu;
    }
    let mut best = this;
    let mut best_load = loads.get(this).filter(|l| l.online).map(CpuLoad::load);
    for (cpu, l) in loads.iter().enumerate() {
        if !l.online {
            continue;
        }
        let better = match best_load {
            None => true,
            Some(b) => l.load() < b || (l.load() == b && cpu == last),
        };
        if better {
            best = cpu;
            best_load = Some(l.load());
        }
    }
    best
}

/// The CPU an idle `this` should steal from: the one with the most stealable tasks (at
/// least one), the nearest after `this` on ties.
pub fn steal_victim(loads: &[CpuLoad], this: usize) -> Option<usize> {
    let n = loads.len();
    (1..n)
        .map(|i| (this + i) % n)
        .filter(|&c| loads[c].online && loads[c].stealable > 0)
        .fold(None, |best: Option<usize>, c| match best {
            Some(b) if loads[b].stealable >= loads[c].stealable => Some(b),
            _ => Some(c),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(queued: u32) -> CpuLoad {
        CpuLoad {
            online: true,
            idle: false,
            queued,
            stealable: queued,
        }
    }
    const IDLE: CpuLoad = CpuLoad {
        online: true,
        idle: true,
        queued: 0,
        stealable: 0,
    };
    const OFF: CpuLoad = CpuLoad {
        online: false,
        idle: false,
        queued: 0,
        stealable: 0,
    };

    #[test]
    fn a_woken_task_returns_to_its_idle_cpu() {
        assert_eq!(select_cpu(&[busy(0), IDLE, IDLE, IDLE], 2, 0), 2);
    }

    #[test]
    fn otherwise_the_next_idle_cpu_after_this_one() {
        assert_eq!(select_cpu(&[busy(0), busy(0), IDLE, IDLE], 1, 0), 2);
        assert_eq!(select_cpu(&[IDLE, busy(0), busy(0), IDLE], 1, 3), 0);
    }

    #[test]
    fn otherwise_the_least_loaded_preferring_last() {
        assert_eq!(select_cpu(&[busy(2), busy(1), busy(0), busy(3)], 0, 0), 2);
        assert_eq!(select_cpu(&[busy(1), busy(0), busy(0), busy(3)], 2, 0), 2);
        assert_eq!(select_cpu(&[busy(0), busy(0), busy(0), busy(0)], 3, 1), 3);
    }

    #[test]
    fn offline_cpus_are_never_chosen() {
        assert_eq!(select_cpu(&[busy(5), OFF, OFF, OFF], 2, 0), 0);
        assert_eq!(select_cpu(&[OFF, busy(5), OFF, busy(4)], 2, 0), 3);
    }

    #[test]
    fn steal_from_the_busiest_nearest_first() {
        assert_eq!(steal_victim(&[IDLE, busy(1), busy(3), busy(3)], 0), Some(2));
        assert_eq!(steal_victim(&[busy(2), busy(0), busy(2), IDLE], 3), Some(0));
        assert_eq!(steal_victim(&[IDLE, busy(0), busy(0), busy(0)], 0), None);
        let pinned = CpuLoad {
            stealable: 0,
            ..busy(4)
        };
        assert_eq!(steal_victim(&[IDLE, pinned, OFF, OFF], 0), None);
    }
}
