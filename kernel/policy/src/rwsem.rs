//! The reader/writer semaphore's admission policy, as pure functions over its state word
//! (the kernel's `RwSemaphore` runs them with atomics and a wait queue). Readers share;
//! once anyone waits, newcomers queue behind (a waiting writer blocks new readers, so
//! writers do not starve); a release hands the lock to the queue's front: one writer, or
//! every reader up to the next writer.

/// State bit: a writer holds the lock.
pub const WRITER: usize = 1;
/// State bit: the wait queue is not empty (set and cleared under the queue's lock).
pub const WAITERS: usize = 2;
/// One reader in the reader count (the bits above the flags).
pub const ONE_READER: usize = 4;

/// Readers holding the lock in state `s`.
pub const fn readers(s: usize) -> usize {
    s / ONE_READER
}

/// What a waiter wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Shared access.
    Read,
    /// Exclusive access.
    Write,
}

/// Whom a release admits from the front of the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The first waiter, a writer.
    Writer,
    /// The first `n` waiters, all readers.
    Readers(usize),
}

/// The state after a reader enters without queueing, if it may: no writer holds the lock
/// and nobody waits.
pub const fn read_fast(s: usize) -> Option<usize> {
    if s & (WRITER | WAITERS) == 0 {
        Some(s + ONE_READER)
    } else {
        None
    }
}

/// The state after a writer enters without queueing, if it may: the lock is free and
/// nobody waits.
pub const fn write_fast(s: usize) -> Option<usize> {
    if s == 0 {
        Some(WRITER)
    } else {
        None
    }
}

/// After a reader's release left state `s`: true if that reader was the last holder and
/// waiters are queued, so it must hand the lock over.
pub const fn read_release_must_grant(s: usize) -> bool {
    s == WAITERS
}

/// Who gets the lock when it becomes free, given the waiters front to back.
pub fn grant(queue: impl IntoIterator<Item = Want>) -> Option<Grant> {
    let mut queue = queue.into_iter();
    match queue.next()? {
        Want::Write => Some(Grant::Writer),
        Want::Read => Some(Grant::Readers(
            1 + queue.take_while(|w| *w == Want::Read).count(),
        )),
    }
}

/// The state once `grant` is applied, with `still_waiting` waiters left queued.
pub const fn granted_state(grant: Grant, still_waiting: bool) -> usize {
    let held = match grant {
        Grant::Writer => WRITER,
        Grant::Readers(n) => n * ONE_READER,
    };
    if still_waiting {
        held | WAITERS
    } else {
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::collections::VecDeque;
    use std::vec::Vec;

    #[test]
    fn readers_share_and_writers_exclude() {
        let s = read_fast(0).unwrap();
        let s = read_fast(s).unwrap();
        assert_eq!(readers(s), 2);
        assert_eq!(write_fast(s), None);
        assert_eq!(write_fast(0), Some(WRITER));
        assert_eq!(read_fast(WRITER), None);
    }

    #[test]
    fn a_waiting_writer_blocks_new_readers() {
        let held_by_readers = 3 * ONE_READER;
        assert_eq!(read_fast(held_by_readers | WAITERS), None);
    }

    #[test]
    fn the_front_writer_alone_or_every_reader_before_the_next_writer() {
        use Want::*;
        assert_eq!(grant([Write, Read, Read]), Some(Grant::Writer));
        assert_eq!(grant([Read, Read, Write, Read]), Some(Grant::Readers(2)));
        assert_eq!(grant([Read]), Some(Grant::Readers(1)));
        assert_eq!(grant([]), None);
        assert_eq!(
            granted_state(Grant::Readers(2), true),
            (2 * ONE_READER) | WAITERS
        );
        assert_eq!(granted_state(Grant::Writer, false), WRITER);
    }

    /// A model rwsem driven through the policy by a pseudo-random mix of arrivals and
    /// releases: exclusion always holds, and nobody who arrives after a writer queued gets
    /// the lock before that writer (so a writer waits only for those ahead of it).
    #[test]
    fn model_exclusion_and_no_overtaking_of_a_waiting_writer() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut state = 0usize;
        // (id, want, admissions so far when it queued)
        let mut queue: VecDeque<(u64, Want, usize)> = VecDeque::new();
        let mut holders: Vec<(u64, Want)> = Vec::new();
        let mut admitted: Vec<u64> = Vec::new();
        let mut next_id = 0u64;
        let mut writers_granted = 0usize;
        let mut max_readers = 0usize;
        for _ in 0..20_000 {
            let r = rand() % 10;
            if r < 6 {
                let want = if r < 4 { Want::Read } else { Want::Write };
                let id = next_id;
                next_id += 1;
                let fast = match want {
                    Want::Read => read_fast(state),
                    Want::Write => write_fast(state),
                };
                if let Some(s) = fast {
                    state = s;
                    holders.push((id, want));
                    admitted.push(id);
                } else {
                    state |= WAITERS;
                    queue.push_back((id, want, admitted.len()));
                }
            } else if !holders.is_empty() {
                let (_, want) = holders.remove((rand() as usize) % holders.len());
                let must_grant = match want {
                    Want::Write => {
                        state &= !WRITER;
                        state == WAITERS
                    }
                    Want::Read => {
                        state -= ONE_READER;
                        read_release_must_grant(state)
                    }
                };
                if must_grant {
                    let g = grant(queue.iter().map(|&(_, w, _)| w)).expect("WAITERS set");
                    let n = match g {
                        Grant::Writer => 1,
                        Grant::Readers(n) => n,
                    };
                    for _ in 0..n {
                        let (id, w, since) = queue.pop_front().unwrap();
                        if w == Want::Write {
                            writers_granted += 1;
                            assert!(
                                admitted[since..].iter().all(|&other| other < id),
                                "writer {id} overtaken by a later arrival"
                            );
                        }
                        holders.push((id, w));
                        admitted.push(id);
                    }
                    state = granted_state(g, !queue.is_empty());
                }
            }
            let writers = holders.iter().filter(|h| h.1 == Want::Write).count();
            let readers_held = holders.len() - writers;
            max_readers = max_readers.max(readers_held);
            assert!(writers <= 1 && (writers == 0 || readers_held == 0));
            assert_eq!(readers(state), readers_held);
            assert_eq!(state & WRITER != 0, writers == 1);
            assert_eq!(state & WAITERS != 0, !queue.is_empty());
        }
        assert!(
            writers_granted > 100,
            "the mix must exercise queued writers"
        );
        assert!(max_readers > 1, "the mix must exercise shared readers");
    }
}
