//! Kernel events as user space reasons about them, decoded from the ring buffer's raw records.

use probe_common::{
    CgroupKey, EVENT_EXEC, EVENT_OOM_VICTIM, EVENT_RECLAIM, EVENT_REQUEST, EVENT_RESUME, EVENT_THROTTLE, EVENT_WRITE,
    Event, NO_SYSCALL, SYSCALLS,
};
use serde::Serialize;

// Read back only by tests, from event streams recorded with `--events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelEvent {
    /// dockerd read bytes starting with `POST ` from a socket.
    Request { tgid: u32, tid: u32, fd: u32, syscall: String, read_enter_ns: u64, read_exit_ns: u64, line: String },
    /// A writer program (runc) was executed.
    Exec { tgid: u32, comm: String, ts_ns: u64 },
    /// A writer wrote to a control file of a target cgroup.
    Write {
        tgid: u32,
        tid: u32,
        comm: String,
        syscall: String,
        #[serde(serialize_with = "cgroup_id")]
        #[cfg_attr(test, serde(deserialize_with = "cgroup_from_id"))]
        cgroup: CgroupKey,
        file: String,
        value: String,
        ret: i64,
        enter_ns: u64,
        exit_ns: u64,
    },
    /// `--load`: a task of the container was switched out throttled (the CPU limit at work).
    Throttle { tid: u32, ts_ns: u64 },
    /// `--load`: a task switched out throttled is on a CPU again.
    Resume { tid: u32, ts_ns: u64 },
    /// `--load`: a memory cgroup reclaim in a writer's context, and the pages it freed.
    Reclaim { tgid: u32, tid: u32, begin_ns: u64, end_ns: u64, pages: u64 },
    /// `--load`: the OOM killer chose a task of the container.
    OomVictim { pid: u32, ts_ns: u64 },
}

/// A cgroup directory as `dev:inode`, the identity the kernel filter uses.
fn cgroup_id<S: serde::Serializer>(key: &CgroupKey, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(key)
}

/// A cgroup directory from its `dev:inode`.
#[cfg(test)]
pub(crate) fn cgroup_from_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CgroupKey, D::Error> {
    let id = <String as serde::Deserialize>::deserialize(d)?;
    let parsed = id
        .split_once(':')
        .and_then(|(dev, ino)| Some(CgroupKey { dev: dev.parse().ok()?, _pad: 0, ino: ino.parse().ok()? }));
    parsed.ok_or_else(|| serde::de::Error::custom(format!("not a cgroup id (dev:inode): {id}")))
}

/// The name of a syscall the probes report; writes seen by an fentry or kprobe hook come from
/// cgroup_file_write, not from one syscall.
fn syscall_name(nr: u32) -> String {
    if nr == NO_SYSCALL {
        return "cgroup_file_write".into();
    }
    SYSCALLS.iter().find(|(n, _)| *n == nr).map_or_else(|| format!("syscall {nr}"), |(_, name)| (*name).to_owned())
}

/// A NUL-terminated name (a comm, a file name) as the kernel filled it in.
pub(super) fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The first line of an HTTP request (`POST /v1.41/containers/<id>/update HTTP/1.1`).
fn request_line(bytes: &[u8]) -> String {
    let line = text(bytes);
    line.split("\r\n").next().unwrap_or_default().to_owned()
}

impl KernelEvent {
    /// When it happened: the read's or the write's return, the exec.
    pub fn time_ns(&self) -> u64 {
        match self {
            KernelEvent::Request { read_exit_ns, .. } => *read_exit_ns,
            KernelEvent::Exec { ts_ns, .. } => *ts_ns,
            KernelEvent::Write { exit_ns, .. } => *exit_ns,
            KernelEvent::Throttle { ts_ns, .. }
            | KernelEvent::Resume { ts_ns, .. }
            | KernelEvent::OomVictim { ts_ns, .. } => *ts_ns,
            KernelEvent::Reclaim { end_ns, .. } => *end_ns,
        }
    }

    /// Decodes one ring-buffer record; `None` for a record too short or of an unknown kind.
    pub fn decode(record: &[u8]) -> Option<KernelEvent> {
        if record.len() < size_of::<Event>() {
            return None;
        }
        // SAFETY: length checked; `Event` is plain old data valid for any bit pattern.
        let ev: Event = unsafe { std::ptr::read_unaligned(record.as_ptr().cast()) };
        KernelEvent::from_raw(&ev)
    }

    pub fn from_raw(ev: &Event) -> Option<KernelEvent> {
        let data_len = (ev.count as usize).min(ev.data.len());
        Some(match ev.kind {
            EVENT_REQUEST => KernelEvent::Request {
                tgid: ev.tgid,
                tid: ev.tid,
                fd: ev.fd,
                syscall: syscall_name(ev.syscall_nr),
                read_enter_ns: ev.ts_enter_ns,
                read_exit_ns: ev.ts_exit_ns,
                line: request_line(&ev.data[..data_len]),
            },
            EVENT_EXEC => KernelEvent::Exec { tgid: ev.tgid, comm: text(&ev.comm), ts_ns: ev.ts_exit_ns },
            EVENT_WRITE => KernelEvent::Write {
                tgid: ev.tgid,
                tid: ev.tid,
                comm: text(&ev.comm),
                syscall: syscall_name(ev.syscall_nr),
                cgroup: ev.cgroup,
                file: text(&ev.name),
                value: text(&ev.data[..data_len]).trim_end().to_owned(),
                ret: ev.ret,
                enter_ns: ev.ts_enter_ns,
                exit_ns: ev.ts_exit_ns,
            },
            EVENT_THROTTLE => KernelEvent::Throttle { tid: ev.tid, ts_ns: ev.ts_enter_ns },
            EVENT_RESUME => KernelEvent::Resume { tid: ev.tid, ts_ns: ev.ts_enter_ns },
            EVENT_RECLAIM => KernelEvent::Reclaim {
                tgid: ev.tgid,
                tid: ev.tid,
                begin_ns: ev.ts_enter_ns,
                end_ns: ev.ts_exit_ns,
                pages: ev.ret as u64,
            },
            EVENT_OOM_VICTIM => KernelEvent::OomVictim { pid: ev.tid, ts_ns: ev.ts_enter_ns },
            _ => return None,
        })
    }
}

/// Joins requests that Go's HTTP server read in two pieces — a background 1-byte read of `P`,
/// then `OST /…` on the same connection — into one `POST` request that arrived when its first
/// byte was read. A lone `P` (say, of a `PUT`) is dropped.
pub fn join_split_requests(mut events: Vec<KernelEvent>) -> Vec<KernelEvent> {
    events.sort_by_key(KernelEvent::time_ns);
    let mut heads = std::collections::HashMap::new();
    events
        .into_iter()
        .filter_map(|event| match event {
            KernelEvent::Request { tgid, fd, read_enter_ns, read_exit_ns, ref line, .. } if line == "P" => {
                heads.insert((tgid, fd), (read_enter_ns, read_exit_ns));
                None
            }
            KernelEvent::Request { tgid, tid, fd, syscall, line, .. } if line.starts_with("OST ") => {
                let (read_enter_ns, read_exit_ns) = heads.remove(&(tgid, fd))?;
                Some(KernelEvent::Request {
                    tgid,
                    tid,
                    fd,
                    syscall,
                    read_enter_ns,
                    read_exit_ns,
                    line: format!("P{line}"),
                })
            }
            other => Some(other),
        })
        .collect()
}

#[cfg(test)]
pub mod fixtures;

#[cfg(test)]
mod tests {
    use super::{fixtures::*, *};

    #[test]
    fn decodes_a_write_record() {
        let key = CgroupKey { dev: 42, _pad: 0, ino: 7 };
        let raw = raw_write(100, "runc", key, "memory.limit_in_bytes", "268439552", 10, 20, 9);
        let ev = KernelEvent::decode(&bytes(&raw)).unwrap();
        let KernelEvent::Write { file, value, cgroup, ret, syscall, .. } = ev else { panic!("{ev:?}") };
        assert_eq!(
            (file.as_str(), value.as_str(), cgroup, ret, syscall.as_str()),
            ("memory.limit_in_bytes", "268439552", key, 9, "write")
        );
    }

    #[test]
    fn writes_seen_in_cgroup_file_write_name_it_as_their_source() {
        let mut raw = raw_write(1, "runc", CgroupKey::default(), "memory.max", "4096", 1, 2, 4);
        raw.syscall_nr = NO_SYSCALL;
        let KernelEvent::Write { syscall, .. } = KernelEvent::from_raw(&raw).unwrap() else { panic!() };
        assert_eq!(syscall, "cgroup_file_write");
    }

    #[test]
    fn keeps_only_the_request_line() {
        let raw = raw_request(5, "POST /v1.41/containers/abc/update HTTP/1.1", 1, 2);
        let KernelEvent::Request { line, read_exit_ns, syscall, .. } = KernelEvent::decode(&bytes(&raw)).unwrap()
        else {
            panic!()
        };
        assert_eq!(line, "POST /v1.41/containers/abc/update HTTP/1.1");
        assert_eq!((read_exit_ns, syscall.as_str()), (2, "read"));
    }

    fn requests(events: &[KernelEvent]) -> Vec<(String, u64)> {
        events
            .iter()
            .filter_map(|e| match e {
                KernelEvent::Request { line, read_exit_ns, .. } => Some((line.clone(), *read_exit_ns)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_request_read_in_two_pieces_is_joined_at_its_first_byte() {
        let update = "POST /v1.41/containers/abc/update HTTP/1.1";
        let raw = [
            raw_request(5, "P", 100, 110),
            raw_exec(77, 120),
            raw_request(5, &update[1..], 130, 140),
            raw_request(5, update, 200, 210),
            raw_request(5, "P", 300, 310),
        ];
        let joined = join_split_requests(raw.iter().filter_map(KernelEvent::from_raw).collect());
        assert_eq!(requests(&joined), [(update.to_owned(), 110), (update.to_owned(), 210)]);
        assert_eq!(joined.len(), 3, "the exec stays, the lone P goes: {joined:?}");
    }

    #[test]
    fn halves_on_other_connections_are_not_joined() {
        let mut rest = raw_request(5, "OST /v1.41/containers/abc/update HTTP/1.1", 130, 140);
        rest.fd = 10;
        let joined = join_split_requests(vec![
            KernelEvent::from_raw(&raw_request(5, "P", 100, 110)).unwrap(),
            KernelEvent::from_raw(&rest).unwrap(),
        ]);
        assert!(requests(&joined).is_empty(), "{joined:?}");
    }

    #[test]
    fn a_value_with_a_newline_is_trimmed_and_short_records_are_dropped() {
        let raw = raw_write(1, "cgbench", CgroupKey::default(), "cpu.max", "50000 100000\n", 1, 2, 13);
        let KernelEvent::Write { value, .. } = KernelEvent::decode(&bytes(&raw)).unwrap() else { panic!() };
        assert_eq!(value, "50000 100000");
        assert!(KernelEvent::decode(&bytes(&raw)[..10]).is_none());
        let mut unknown = raw;
        unknown.kind = 99;
        assert!(KernelEvent::from_raw(&unknown).is_none());
    }
}
