//! The SMMU's event queue and global errors (Arm IHI 0070 §7.3 "Event
//! records", §7.2 / §6.3.16 GERROR): records are drained by the event
//! interrupt (and by readers, so a DMA's fault is never missed because an
//! interrupt is late), decoded, merged when a DMA repeats one fault, and kept
//! in a numbered log; global errors are reported and acknowledged.
use super::{get, SmmuDevice};
use core::sync::atomic::Ordering;
use drivers::smmuv3::{gerror_names, Event, EventLog, EventQueue, GERROR_REPORTED};

/// Decoded events kept for readers.
pub const EVENT_LOG: usize = 64;

pub(super) struct Events {
    pub(super) queue: EventQueue,
    pub(super) log: EventLog<EVENT_LOG>,
    pub(super) overflows: u64,
}

pub(super) fn on_eventq(_intid: u32) {
    if let Some(s) = get() {
        s.drain_events();
    }
}

pub(super) fn on_gerror(_intid: u32) {
    if let Some(s) = get() {
        s.report_global_errors();
    }
}

impl SmmuDevice {
    /// Moves new event records into the log (each reported); returns how many.
    /// Any context (the event interrupt calls it; so do readers).
    pub fn drain_events(&self) -> u32 {
        let mut ev = self.events.lock();
        let Events {
            queue,
            log,
            overflows,
        } = &mut *ev;
        let drained = queue.drain(&self.hw, |raw| {
            // Repeats of the newest fault (a DMA retried access by access)
            // only raise its count.
            if let Some(e) = log.push(raw) {
                defmt::warn!(
                    "SMMU event #{}: {=str} stream {} addr {=u64:#x} {=str} (raw {=u64:#x} {=u64:#x})",
                    e.seq,
                    e.kind.name(),
                    e.stream.get(),
                    e.address,
                    if e.read { "read" } else { "write" },
                    raw[0],
                    raw[1]
                );
            }
        });
        if drained.overflowed {
            *overflows += 1;
            defmt::error!("SMMU event queue overflowed: events were lost");
        }
        drained.events
    }

    /// A mark to pass to `event_since` later: every event recorded after
    /// this call has a sequence number at or above it (a repeat of an older
    /// fault included).
    pub fn event_seq(&self) -> u64 {
        self.drain_events();
        self.events.lock().log.mark()
    }

    /// The first event of stream `sid` with `seq >= since` (draining first).
    pub fn event_since(&self, since: u64, sid: drivers::smmuv3::StreamId) -> Option<Event> {
        self.drain_events();
        self.events
            .lock()
            .log
            .since(since)
            .find(|e| e.stream == sid)
    }

    /// Calls `f` for each event with `seq >= since` still in the log (draining first).
    pub fn for_each_event_since(&self, since: u64, mut f: impl FnMut(&Event)) {
        self.drain_events();
        let ev = self.events.lock();
        for e in ev.log.since(since) {
            f(&e);
        }
    }

    /// Reports and acknowledges global errors (GERROR), except CMDQ_ERR,
    /// which the command queue handles itself. Returns the error bits seen.
    pub fn report_global_errors(&self) -> u32 {
        let active = self.hw.active_errors() & GERROR_REPORTED;
        if active != 0 {
            self.global_errors.fetch_add(1, Ordering::Relaxed);
            for name in gerror_names(active) {
                defmt::error!("SMMU global error: {=str}", name);
            }
            self.hw.acknowledge_errors(active);
        }
        active
    }
}
