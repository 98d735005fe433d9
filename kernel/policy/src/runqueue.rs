//! A run queue: a fixed-capacity FIFO ring of task ids. The scheduler keeps one per CPU
//! under a spinlock; FIFO order is the round-robin policy, and stealing takes the oldest
//! task the thief may run, so no queued task waits behind later arrivals forever.

/// A FIFO of up to `N` task ids.
#[derive(Debug)]
pub struct RunQueue<const N: usize> {
    slots: [u16; N],
    head: usize,
    len: usize,
}

/// The queue was full; the id was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full(pub u16);

impl<const N: usize> Default for RunQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RunQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            slots: [0; N],
            head: 0,
            len: 0,
        }
    }

    /// Tasks queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if none are.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `id` last.
    pub fn push_back(&mut self, id: u16) -> Result<(), Full> {
        if self.len == N {
            return Err(Full(id));
        }
        self.slots[(self.head + self.len) % N] = id;
        self.len += 1;
        Ok(())
    }

    /// Takes the first task.
    pub fn pop_front(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let id = self.slots[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(id)
    }

    /// The queued ids, first to last.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..self.len).map(move |i| self.slots[(self.head + i) % N])
    }

    /// Takes the first task for which `may_take` holds, keeping the others in order.
    pub fn take_first(&mut self, mut may_take: impl FnMut(u16) -> bool) -> Option<u16> {
        let at = (0..self.len).find(|&i| may_take(self.slots[(self.head + i) % N]))?;
        let id = self.slots[(self.head + at) % N];
        for i in at..self.len - 1 {
            self.slots[(self.head + i) % N] = self.slots[(self.head + i + 1) % N];
        }
        self.len -= 1;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn first_in_first_out_across_the_wrap() {
        let mut q = RunQueue::<4>::new();
        for round in 0..10u16 {
            q.push_back(round).unwrap();
            q.push_back(round + 100).unwrap();
            assert_eq!(q.pop_front(), Some(round));
            assert_eq!(q.pop_front(), Some(round + 100));
        }
        assert!(q.is_empty());
        assert_eq!(q.pop_front(), None);
    }

    #[test]
    fn a_full_queue_refuses() {
        let mut q = RunQueue::<2>::new();
        q.push_back(1).unwrap();
        q.push_back(2).unwrap();
        assert_eq!(q.push_back(3), Err(Full(3)));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn stealing_takes_the_oldest_allowed_and_keeps_the_rest_in_order() {
        let mut q = RunQueue::<4>::new();
        // Wrap the ring first so the removal crosses the end of the array.
        for id in [9, 9, 9] {
            q.push_back(id).unwrap();
            q.pop_front();
        }
        for id in [1, 2, 3, 4] {
            q.push_back(id).unwrap();
        }
        assert_eq!(q.take_first(|id| id % 2 == 0), Some(2));
        assert_eq!(q.iter().collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(q.take_first(|id| id > 10), None);
        assert_eq!(q.take_first(|_| true), Some(1));
        q.push_back(5).unwrap();
        assert_eq!(q.iter().collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[test]
    fn round_robin_gives_every_task_a_turn_before_any_gets_two() {
        // The scheduler's policy: the running task goes to the back, the front runs.
        let mut q = RunQueue::<8>::new();
        for id in 0..5 {
            q.push_back(id).unwrap();
        }
        let mut running = q.pop_front().unwrap();
        let mut turns = Vec::new();
        for _ in 0..15 {
            turns.push(running);
            q.push_back(running).unwrap();
            running = q.pop_front().unwrap();
        }
        for window in turns.chunks(5) {
            let mut w = window.to_vec();
            w.sort_unstable();
            assert_eq!(w, [0, 1, 2, 3, 4]);
        }
    }
}
