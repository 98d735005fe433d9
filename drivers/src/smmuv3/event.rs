//! Event queue records (Arm IHI 0070 §7.3 "Event records"): 32-byte records
//! decoded into the fault kind, stream, input address and direction, and a
//! fixed-size log of the most recent ones, numbered so a reader can ask for
//! "everything since I started my DMA". A faulting DMA is retried by the
//! device model access by access (QEMU records one event per 4 bytes), so
//! consecutive records of the same fault on the same page are merged into
//! one entry with a count.
use super::ids::StreamId;

/// Doublewords in an event record.
pub const EVENT_DWORDS: usize = 4;

/// The event types of §7.3 (table 7-3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// F_UUT (0x01): a transaction type the SMMU does not support.
    UnsupportedUpstreamTransaction,
    /// C_BAD_STREAMID (0x02): the stream ID is beyond the stream table.
    BadStreamId,
    /// F_STE_FETCH (0x03): fetching the STE aborted.
    SteFetch,
    /// C_BAD_STE (0x04): the STE is invalid or malformed.
    BadSte,
    /// F_BAD_ATS_TREQ (0x05): an ATS translation request was refused.
    BadAtsTranslationRequest,
    /// F_STREAM_DISABLED (0x06): a transaction without a substream ID, which the
    /// STE disables (S1DSS = 0b00).
    StreamDisabled,
    /// F_TRANSL_FORBIDDEN (0x07): an ATS-translated transaction where none is allowed.
    TranslationForbidden,
    /// C_BAD_SUBSTREAMID (0x08): the substream ID is beyond the CD table.
    BadSubstreamId,
    /// F_CD_FETCH (0x09): fetching the CD aborted.
    CdFetch,
    /// C_BAD_CD (0x0a): the CD is invalid or malformed.
    BadCd,
    /// F_WALK_EABT (0x0b): a translation table walk aborted.
    WalkExternalAbort,
    /// F_TRANSLATION (0x10): no valid descriptor for the address (stage 1 or 2).
    Translation,
    /// F_ADDR_SIZE (0x11): an address beyond the configured input or output size.
    AddressSize,
    /// F_ACCESS (0x12): access flag fault (AF = 0 without hardware update).
    Access,
    /// F_PERMISSION (0x13): the descriptor forbids the access (a write to read-only, ...).
    Permission,
    /// F_TLB_CONFLICT (0x20): overlapping TLB entries matched.
    TlbConflict,
    /// F_CFG_CONFLICT (0x21): overlapping configuration cache entries matched.
    ConfigCacheConflict,
    /// E_PAGE_REQUEST (0x24): a speculative page request hint.
    PageRequest,
    /// F_VMS_FETCH (0x25): fetching the VMS aborted.
    VmsFetch,
    /// An event ID table 7-3 does not list.
    Unknown(u8),
}

impl EventKind {
    /// Decodes the EVENT_ID field (bits \[7:0\] of the record).
    pub const fn from_id(id: u8) -> Self {
        match id {
            0x01 => EventKind::UnsupportedUpstreamTransaction,
            0x02 => EventKind::BadStreamId,
            0x03 => EventKind::SteFetch,
            0x04 => EventKind::BadSte,
            0x05 => EventKind::BadAtsTranslationRequest,
            0x06 => EventKind::StreamDisabled,
            0x07 => EventKind::TranslationForbidden,
            0x08 => EventKind::BadSubstreamId,
            0x09 => EventKind::CdFetch,
            0x0a => EventKind::BadCd,
            0x0b => EventKind::WalkExternalAbort,
            0x10 => EventKind::Translation,
            0x11 => EventKind::AddressSize,
            0x12 => EventKind::Access,
            0x13 => EventKind::Permission,
            0x20 => EventKind::TlbConflict,
            0x21 => EventKind::ConfigCacheConflict,
            0x24 => EventKind::PageRequest,
            0x25 => EventKind::VmsFetch,
            other => EventKind::Unknown(other),
        }
    }

    /// The specification's name (`F_TRANSLATION`, `C_BAD_STE`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::UnsupportedUpstreamTransaction => "F_UUT",
            EventKind::BadStreamId => "C_BAD_STREAMID",
            EventKind::SteFetch => "F_STE_FETCH",
            EventKind::BadSte => "C_BAD_STE",
            EventKind::BadAtsTranslationRequest => "F_BAD_ATS_TREQ",
            EventKind::StreamDisabled => "F_STREAM_DISABLED",
            EventKind::TranslationForbidden => "F_TRANSL_FORBIDDEN",
            EventKind::BadSubstreamId => "C_BAD_SUBSTREAMID",
            EventKind::CdFetch => "F_CD_FETCH",
            EventKind::BadCd => "C_BAD_CD",
            EventKind::WalkExternalAbort => "F_WALK_EABT",
            EventKind::Translation => "F_TRANSLATION",
            EventKind::AddressSize => "F_ADDR_SIZE",
            EventKind::Access => "F_ACCESS",
            EventKind::Permission => "F_PERMISSION",
            EventKind::TlbConflict => "F_TLB_CONFLICT",
            EventKind::ConfigCacheConflict => "F_CFG_CONFLICT",
            EventKind::PageRequest => "E_PAGE_REQUEST",
            EventKind::VmsFetch => "F_VMS_FETCH",
            EventKind::Unknown(_) => "unknown event",
        }
    }

    /// Whether the record carries the faulting input address and direction.
    pub const fn has_input_address(self) -> bool {
        matches!(
            self,
            EventKind::UnsupportedUpstreamTransaction
                | EventKind::TranslationForbidden
                | EventKind::WalkExternalAbort
                | EventKind::Translation
                | EventKind::AddressSize
                | EventKind::Access
                | EventKind::Permission
        )
    }
}

/// One decoded event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Position in the log (0 for the first event since boot).
    pub seq: u64,
    /// What went wrong (EVENT_ID).
    pub kind: EventKind,
    /// The stream ID of the transaction (StreamID).
    pub stream: StreamId,
    /// Substream ID, when the record says it is valid (SSV).
    pub substream: Option<u32>,
    /// Faulting input address (the device's VA), for the kinds that have one.
    pub address: u64,
    /// The access was a read (RnW = 1); a device write to memory has `read = false`.
    pub read: bool,
    /// Records merged into this entry (same kind, stream, direction and
    /// page, back to back); `address` and `raw` are the first one's.
    pub count: u32,
    /// The record as the SMMU wrote it.
    pub raw: [u64; EVENT_DWORDS],
}

impl Event {
    /// Whether `other` is a repeat of this fault (same kind, stream,
    /// direction and 4 KiB page of the input address).
    pub const fn repeats(&self, other: &Event) -> bool {
        self.kind.has_input_address()
            && other.kind.has_input_address()
            && self.stream.get() == other.stream.get()
            && self.read == other.read
            && self.address >> 12 == other.address >> 12
            && self.raw[0] as u8 == other.raw[0] as u8
    }
}

/// Decodes a record: type [7:0], SSV [11], SSID [31:12], StreamID [63:32],
/// RnW [99] (bit 35 of dword 1), InputAddr [191:128].
pub const fn decode(raw: [u64; EVENT_DWORDS], seq: u64) -> Event {
    let kind = EventKind::from_id(raw[0] as u8);
    let ssv = raw[0] & (1 << 11) != 0;
    let (address, read) = if kind.has_input_address() {
        (raw[2], raw[1] & (1 << 35) != 0)
    } else {
        (0, false)
    };
    Event {
        seq,
        kind,
        stream: StreamId::new((raw[0] >> 32) as u32),
        substream: if ssv {
            Some(((raw[0] >> 12) & 0xf_ffff) as u32)
        } else {
            None
        },
        address,
        read,
        count: 1,
        raw,
    }
}

/// The last `N` events, numbered from 0.
pub struct EventLog<const N: usize> {
    slots: [Option<Event>; N],
    next_seq: u64,
    /// A reader took a mark since the newest entry: later records must not
    /// merge into it (they would be invisible to `since(mark)`).
    sealed: bool,
}

impl<const N: usize> Default for EventLog<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> EventLog<N> {
    /// An empty log, numbering from 0.
    pub const fn new() -> Self {
        Self {
            slots: [None; N],
            next_seq: 0,
            sealed: false,
        }
    }

    /// Records `raw`: merged into the newest entry if it repeats that fault
    /// (`None`), else a new entry (the oldest is overwritten when full).
    pub fn push(&mut self, raw: [u64; EVENT_DWORDS]) -> Option<Event> {
        let e = decode(raw, self.next_seq);
        let sealed = self.sealed;
        if let Some(last) = self.newest_mut() {
            if !sealed && last.repeats(&e) {
                last.count = last.count.saturating_add(1);
                return None;
            }
        }
        self.slots[(self.next_seq % N as u64) as usize] = Some(e);
        self.next_seq += 1;
        self.sealed = false;
        Some(e)
    }

    /// A mark for `since`: every record pushed after it gets an entry of
    /// its own (`seq >= mark`), even if it repeats the newest one.
    pub fn mark(&mut self) -> u64 {
        self.sealed = true;
        self.next_seq
    }

    fn newest_mut(&mut self) -> Option<&mut Event> {
        let seq = self.next_seq.checked_sub(1)?;
        self.slots[(seq % N as u64) as usize].as_mut()
    }

    /// Sequence number the next event will get (= events recorded so far).
    pub const fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Events overwritten before anyone could read them from the log.
    pub const fn overwritten(&self) -> u64 {
        self.next_seq.saturating_sub(N as u64)
    }

    /// Events with `seq >= since` still in the log, oldest first.
    pub fn since(&self, since: u64) -> impl Iterator<Item = Event> + '_ {
        let first = since.max(self.overwritten());
        (first..self.next_seq).filter_map(move |s| self.slots[(s % N as u64) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An F_TRANSLATION record as QEMU writes it: SID 8, device write to 0x1000_0000.
    const WRITE_FAULT: [u64; 4] = [0x0000_0008_0000_0010, 0x0000_0000_0000_0000, 0x1000_0000, 0];
    /// F_PERMISSION, read (RnW = 1).
    const READ_PERM: [u64; 4] = [0x0000_0010_0000_0013, 1 << 35, 0x1000_1000, 0];

    #[test]
    fn decodes_kind_stream_address_direction() {
        let e = decode(WRITE_FAULT, 0);
        assert_eq!(e.kind, EventKind::Translation);
        assert_eq!(e.kind.name(), "F_TRANSLATION");
        assert_eq!(
            (e.stream, e.address, e.read),
            (StreamId::new(8), 0x1000_0000, false)
        );
        assert_eq!(e.substream, None);
        let p = decode(READ_PERM, 1);
        assert_eq!(
            (p.kind, p.stream, p.read),
            (EventKind::Permission, StreamId::new(0x10), true)
        );
        let bad = decode([0x0000_0003_0000_0804 | 5 << 12, 0, 0xdead, 0], 2);
        assert_eq!(bad.kind, EventKind::BadSte);
        assert_eq!(bad.substream, Some(5));
        assert_eq!(bad.address, 0, "C_BAD_STE has no input address");
        assert_eq!(EventKind::from_id(0x7f), EventKind::Unknown(0x7f));
        assert_eq!(EventKind::from_id(0x0a).name(), "C_BAD_CD");
    }

    /// `WRITE_FAULT` at another address.
    fn at(addr: u64) -> [u64; 4] {
        [WRITE_FAULT[0], WRITE_FAULT[1], addr, 0]
    }

    #[test]
    fn repeats_of_one_fault_merge() {
        let mut log: EventLog<4> = EventLog::new();
        // A 4 KiB DMA faulting 4 bytes at a time: 1024 records, one entry.
        for i in 0..1024 {
            let new = log.push(at(0x1000_0000 + 4 * i));
            assert_eq!(new.is_some(), i == 0);
        }
        let all: Vec<Event> = log.since(0).collect();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].address, all[0].count), (0x1000_0000, 1024));
        // Another page, another stream, another kind: new entries.
        assert!(log.push(at(0x1000_1000)).is_some());
        assert!(log.push(READ_PERM).is_some());
        assert!(log
            .push([0x0000_0008_0000_0013, 0, 0x1000_1000, 0])
            .is_some());
        assert_eq!(log.next_seq(), 4);
        // After a reader's mark, the same fault again is a new entry the
        // reader sees; its own repeats merge again.
        let mark = log.mark();
        assert!(log
            .push([0x0000_0008_0000_0013, 0, 0x1000_1000, 0])
            .is_some());
        assert!(log
            .push([0x0000_0008_0000_0013, 0, 0x1000_1004, 0])
            .is_none());
        let seen: Vec<Event> = log.since(mark).collect();
        assert_eq!((seen.len(), seen[0].count), (1, 2));
    }

    #[test]
    fn log_keeps_the_newest_and_numbers_them() {
        let mut log: EventLog<4> = EventLog::new();
        for i in 0..6 {
            log.push(at(0x1000_0000 + (i << 12)));
        }
        assert_eq!(log.next_seq(), 6);
        assert_eq!(log.overwritten(), 2);
        let seqs: Vec<u64> = log.since(0).map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3, 4, 5]);
        let seqs: Vec<u64> = log.since(5).map(|e| e.seq).collect();
        assert_eq!(seqs, [5]);
        assert_eq!(log.since(6).count(), 0);
    }
}
