//! Call detail records: one CSV row per call, answered or failed
//! (docs/cdr.md). Shards hand records to a writer thread over a bounded
//! channel; the writer appends to an hourly file, fsyncs on rotation and on
//! shutdown, and loses nothing that was sent: a write that fails (a full
//! disk) is tried again every second, the records waiting in memory.

use crate::routing::money::Rate;
use crossbeam::channel::{Receiver, Sender, TryRecvError, bounded};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

/// Who ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangUp {
    /// The A-leg (customer side): BYE or CANCEL.
    Caller,
    /// The B-leg (vendor side): BYE or a final failure.
    Callee,
    /// tandem: no route, timeouts, shutdown.
    System,
}

impl HangUp {
    fn as_str(self) -> &'static str {
        match self {
            HangUp::Caller => "caller",
            HangUp::Callee => "callee",
            HangUp::System => "system",
        }
    }
}

/// One call's record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cdr {
    /// A-leg Call-ID (the customer's).
    pub a_call_id: String,
    /// B-leg Call-ID of the answered (or last) attempt; empty when none was made.
    pub b_call_id: String,
    /// Customer name; empty when the source was unknown.
    pub customer: String,
    /// Source address of the A-leg.
    pub source: String,
    /// Gateway that answered (or the last tried).
    pub gateway: String,
    /// Every gateway tried, in order.
    pub gateways_tried: Vec<String>,
    /// Caller number (A-leg From user part).
    pub caller: String,
    /// Dialed number as received (Request-URI user part).
    pub dialed: String,
    /// Number after the dial plan.
    pub routed: String,
    /// LRN used (empty: none).
    pub lrn: String,
    /// Where the LRN came from: `cache`, `dip:<name>`, `file`, `fallback`, `none`.
    pub lrn_source: String,
    /// Dip latency in ms (empty: no dip).
    pub dip_ms: Option<u64>,
    /// Customer rate per minute and its billing blocks.
    pub customer_rate: Option<(Rate, u32, u32)>,
    /// Vendor rate per minute and its billing blocks.
    pub vendor_rate: Option<(Rate, u32, u32)>,
    /// Unix ms the INVITE arrived.
    pub setup_ms: i64,
    /// Unix ms of the answer (2xx), if answered.
    pub answer_ms: Option<i64>,
    /// Unix ms the call ended.
    pub end_ms: i64,
    /// Final SIP code sent to the A-leg (200 for answered calls).
    pub final_code: u16,
    /// Who ended it.
    pub hangup: Option<HangUp>,
}

/// Seconds billed for `secs` of talk: the initial block, then whole increments.
pub fn billed(secs: u64, initial: u32, increment: u32) -> u64 {
    let (initial, increment) = (u64::from(initial), u64::from(increment.max(1)));
    match secs {
        0 => 0,
        s if s <= initial => initial,
        s => initial + (s - initial).div_ceil(increment) * increment,
    }
}

/// The CSV header row (docs/cdr.md documents every column).
pub const HEADER: &str = "a_call_id,b_call_id,customer,source,gateway,gateways_tried,caller,dialed,routed,lrn,lrn_source,dip_ms,customer_rate,customer_initial,customer_increment,vendor_rate,vendor_initial,vendor_increment,setup_time,answer_time,end_time,duration_s,customer_billed_s,vendor_billed_s,customer_charge,vendor_cost,final_code,hangup";

impl Cdr {
    /// Talk time in whole seconds (rounded up), 0 when not answered.
    pub fn duration_s(&self) -> u64 {
        self.answer_ms.map_or(0, |a| ((self.end_ms - a).max(0) as u64).div_ceil(1000))
    }

    /// The CSV row (no trailing newline).
    pub fn to_csv(&self) -> String {
        let mut row = String::with_capacity(512);
        self.write_csv(&mut row);
        row
    }

    /// Appends the CSV row (no trailing newline) to `out`, without a
    /// temporary per field: the writer thread formats thousands a second.
    pub fn write_csv(&self, out: &mut String) {
        let d = self.duration_s();
        let mut row = Row { out, first: true };
        for text in [&self.a_call_id, &self.b_call_id, &self.customer, &self.source, &self.gateway] {
            row.text(text);
        }
        if self.gateways_tried.iter().any(|g| needs_quotes(g)) {
            row.text(&self.gateways_tried.join("|"));
        } else {
            row.sep();
            for (i, g) in self.gateways_tried.iter().enumerate() {
                row.out.push_str(if i == 0 { "" } else { "|" });
                row.out.push_str(g);
            }
        }
        for text in [&self.caller, &self.dialed, &self.routed, &self.lrn, &self.lrn_source] {
            row.text(text);
        }
        row.opt(self.dip_ms);
        let (customer, vendor) = (Money::of(self.customer_rate, d), Money::of(self.vendor_rate, d));
        for m in [customer, vendor] {
            row.opt(m.map(|m| m.rate));
            row.opt(m.map(|m| m.initial));
            row.opt(m.map(|m| m.increment));
        }
        row.time(Some(self.setup_ms));
        row.time(self.answer_ms);
        row.time(Some(self.end_ms));
        row.opt(Some(d));
        row.opt(customer.map(|m| m.billed));
        row.opt(vendor.map(|m| m.billed));
        row.opt(customer.map(|m| m.charge));
        row.opt(vendor.map(|m| m.charge));
        row.opt(Some(self.final_code));
        row.text(self.hangup.map_or("", HangUp::as_str));
    }
}

/// A CSV row being appended to.
struct Row<'a> {
    out: &'a mut String,
    first: bool,
}

impl Row<'_> {
    fn sep(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
    }

    fn text(&mut self, f: &str) {
        self.sep();
        push_escaped(self.out, f);
    }

    /// A number (or rate); empty when absent.
    fn opt(&mut self, v: Option<impl std::fmt::Display>) {
        self.sep();
        if let Some(v) = v {
            let _ = write!(self.out, "{v}");
        }
    }

    fn time(&mut self, unix_ms: Option<i64>) {
        self.sep();
        if let Some(ms) = unix_ms {
            write_rfc3339_ms(self.out, ms);
        }
    }
}

/// One side's money columns.
#[derive(Clone, Copy)]
struct Money {
    rate: Rate,
    initial: u32,
    increment: u32,
    billed: u64,
    charge: Rate,
}

impl Money {
    fn of(rate: Option<(Rate, u32, u32)>, secs: u64) -> Option<Money> {
        let (rate, initial, increment) = rate?;
        let billed = billed(secs, initial, increment);
        // Charge = rate per minute × billed seconds / 60, in nano-units, rounded half up.
        let nanos = (i128::from(rate.0) * i128::from(billed) + 30) / 60;
        let charge = Rate(i64::try_from(nanos).unwrap_or(i64::MAX));
        Some(Money { rate, initial, increment, billed, charge })
    }
}

fn needs_quotes(f: &str) -> bool {
    f.contains([',', '"', '\n', '\r'])
}

/// Appends `f` as one CSV field, quoted when it holds a separator or quote.
/// Other control characters (a `%00` in a Request-URI decodes to NUL) are
/// written as `%XX`: a raw NUL makes line tools take the file for binary.
fn push_escaped(out: &mut String, f: &str) {
    let odd = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    if f.contains(odd) {
        let mut clean = String::with_capacity(f.len() + 8);
        for c in f.chars() {
            if odd(c) {
                let _ = write!(clean, "%{:02X}", c as u32);
            } else {
                clean.push(c);
            }
        }
        return push_escaped(out, &clean);
    }
    if needs_quotes(f) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

/// `2026-11-24T05:36:46.123Z`.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let mut s = String::with_capacity(24);
    write_rfc3339_ms(&mut s, unix_ms);
    s
}

fn write_rfc3339_ms(out: &mut String, unix_ms: i64) {
    let (secs, ms) = (unix_ms.div_euclid(1000), unix_ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z");
}

/// Inverse of days-from-civil (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// The sending side, cloned into every shard.
#[derive(Clone, Debug)]
pub struct CdrSink {
    tx: Sender<Cdr>,
}

impl CdrSink {
    /// Hands a record to the writer. Blocks only if the writer is 64 Ki records
    /// behind and holds its most in memory (`MAX_WAITING`, while it cannot
    /// write): a CDR is never dropped.
    pub fn send(&self, cdr: Cdr) {
        // The writer outlives every sink (it exits when all are dropped), so
        // a send can only fail during a panic unwind; count nothing then.
        let _ = self.tx.send(cdr);
    }
}

/// The writer thread.
pub struct CdrWriter {
    handle: JoinHandle<io::Result<u64>>,
}

impl CdrWriter {
    /// Starts a writer for `dir` (created if missing).
    pub fn start(dir: &Path) -> io::Result<(CdrSink, CdrWriter)> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = bounded(65_536);
        let dir = dir.to_path_buf();
        let handle =
            std::thread::Builder::new().name("cdr-writer".into()).spawn(move || write_loop(&dir, &rx))?;
        Ok((CdrSink { tx }, CdrWriter { handle }))
    }

    /// Waits for the writer to drain and fsync (after every sink is dropped);
    /// returns the number of records written.
    pub fn finish(self) -> io::Result<u64> {
        self.handle.join().unwrap_or_else(|_| Err(io::Error::other("CDR writer panicked")))
    }
}

/// How long the writer lets records gather after writing a batch: one wakeup
/// and one write(2) per batch instead of per call, which under load costs the
/// host far more than the record itself. Records are at most this late on disk.
const BATCH_PAUSE: Duration = Duration::from_millis(50);
/// How long the writer waits before writing again after a failure (a full
/// disk, a folder gone): the records wait in memory meanwhile.
const RETRY_PAUSE: Duration = Duration::from_millis(if cfg!(test) { 50 } else { 1000 });
/// Records held in memory while they cannot be written (a few hundred bytes
/// each) before the writer takes no more: then the channel fills and shards
/// wait for it, rather than any record being dropped.
const MAX_WAITING: usize = if cfg!(test) { 1_000 } else { 1_000_000 };
/// The most one write(2) takes: after an outage, a backlog of records is
/// written in pieces, each removed from memory once written.
const BATCH_BYTES: usize = 1 << 20;
/// After the last record came (shutdown), failed writes tried again this many
/// times before what is left goes to the log, row by row.
const FINAL_TRIES: u32 = 10;

fn write_loop(dir: &Path, rx: &Receiver<Cdr>) -> io::Result<u64> {
    let mut out = Files::default();
    let mut waiting: VecDeque<(i64, String)> = VecDeque::new();
    let (mut written, mut open, mut failures, mut full) = (0u64, true, 0u32, false);
    let mut final_tries = 0;
    while open || !waiting.is_empty() {
        open = take(rx, &mut waiting);
        match out.write(dir, &mut waiting) {
            Ok(n) => {
                written += n;
                if failures > 0 {
                    crate::info!("cdr writes resumed", dir = dir.display(), written = n);
                    failures = 0;
                }
                if open {
                    std::thread::sleep(BATCH_PAUSE);
                }
            }
            Err(e) => {
                if failures == 0 {
                    crate::warn!("cdr write failed", dir = dir.display(), error = e, waiting = waiting.len());
                }
                if waiting.len() >= MAX_WAITING && !full {
                    crate::warn!("cdr backlog full, shards wait for the writer", waiting = waiting.len());
                }
                full = waiting.len() >= MAX_WAITING;
                failures += 1;
                final_tries += u32::from(!open);
                if final_tries > FINAL_TRIES {
                    for (_, row) in &waiting {
                        crate::warn!("cdr unwritten", row = row.trim_end());
                    }
                    return Err(e);
                }
                std::thread::sleep(RETRY_PAUSE);
            }
        }
    }
    out.close()?;
    Ok(written)
}

/// Moves records from the channel to `waiting` as CSV rows, waiting for one
/// only when nothing else is waiting; `false` once every sink is gone.
fn take(rx: &Receiver<Cdr>, waiting: &mut VecDeque<(i64, String)>) -> bool {
    if waiting.is_empty() {
        match rx.recv() {
            Ok(cdr) => waiting.push_back(row(cdr)),
            Err(_) => return false,
        }
    }
    while waiting.len() < MAX_WAITING {
        match rx.try_recv() {
            Ok(cdr) => waiting.push_back(row(cdr)),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// A record as it waits to be written: the hour of its file, its CSV line.
fn row(cdr: Cdr) -> (i64, String) {
    let mut row = String::with_capacity(512);
    cdr.write_csv(&mut row);
    row.push('\n');
    (cdr.end_ms.div_euclid(3_600_000), row)
}

/// The hourly file being appended to, and how much of it is known written.
#[derive(Default)]
struct Files {
    current: Option<(i64, PathBuf, File)>,
    /// The length of `path` after its last successful write: what a failed
    /// write leaves beyond it (part of a batch) is cut off at once.
    good: Option<(PathBuf, u64)>,
}

/// What became of the file a batch was just written to.
enum Fate {
    /// Still at its path.
    Kept,
    /// Renamed or replaced (e.g. by log rotation): the batch is in it; the
    /// next batch goes to a new file at the path.
    Moved,
    /// Removed (the file or its folder): the batch went nowhere and is
    /// written again, to a new file.
    Removed,
}

impl Files {
    /// Writes the waiting rows in batches (one hour's, at most `BATCH_BYTES`
    /// beyond the first row), removing each batch once written; the number written.
    fn write(&mut self, dir: &Path, waiting: &mut VecDeque<(i64, String)>) -> io::Result<u64> {
        let mut written = 0;
        let mut batch = String::new();
        while let Some(&(hour, _)) = waiting.front() {
            self.file(dir, hour)?;
            batch.clear();
            let mut n = 0;
            for (_, row) in waiting.iter().take_while(|(h, _)| *h == hour) {
                if n > 0 && batch.len() + row.len() > BATCH_BYTES {
                    break;
                }
                batch.push_str(row);
                n += 1;
            }
            match self.append(&batch)? {
                Fate::Removed => {
                    crate::warn!("cdr file removed, written again", dir = dir.display(), rows = n);
                    continue;
                }
                Fate::Moved => crate::warn!("cdr file moved, a new one begins", dir = dir.display()),
                Fate::Kept => {}
            }
            waiting.drain(..n);
            written += n as u64;
        }
        Ok(written)
    }

    /// Appends `batch` to the current file; on failure, cuts off what part
    /// of it was written (a full disk still lets a file shrink) and closes it.
    fn append(&mut self, batch: &str) -> io::Result<Fate> {
        let (Some((_, path, file)), Some((_, good))) = (self.current.as_mut(), self.good.as_mut()) else {
            return Err(io::Error::other("no CDR file"));
        };
        if let Err(e) = file.write_all(batch.as_bytes()) {
            let _ = file.set_len(*good); // else tried again when the file is next opened
            self.current = None;
            return Err(e);
        }
        *good += batch.len() as u64;
        // Written: whatever the check says, the batch must not be written twice into this file.
        let fate = fate(path, file).unwrap_or(Fate::Kept);
        if matches!(fate, Fate::Moved) {
            let _ = file.sync_all(); // as at rotation: it is no longer ours to close
        }
        if !matches!(fate, Fate::Kept) {
            // What the path names next is not the file whose length `good` knows.
            (self.current, self.good) = (None, None);
        }
        Ok(fate)
    }

    /// Makes the file for `hour` the current one, after closing (fsync) the previous hour's.
    fn file(&mut self, dir: &Path, hour: i64) -> io::Result<()> {
        if self.current.as_ref().is_some_and(|(h, _, _)| *h != hour) {
            self.close()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open(dir, hour)?);
        }
        Ok(())
    }

    fn open(&mut self, dir: &Path, hour: i64) -> io::Result<(i64, PathBuf, File)> {
        let stamp = rfc3339_ms(hour * 3_600_000);
        // cdr-2026-11-24T05.csv
        let path = dir.join(format!("cdr-{}.csv", &stamp[..13]));
        std::fs::create_dir_all(dir)?; // removed while tandem runs: made again
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(&path)?;
        let len = file.metadata()?.len();
        // Ours, up to the last write that succeeded; another's (an earlier
        // run's, cut short by a crash), up to its last whole row.
        let known = self.good.as_ref().filter(|(p, good)| *p == path && *good <= len).map(|&(_, g)| g);
        let mut good = match known {
            Some(good) => good,
            None => whole_rows(&file, len)?,
        };
        if good < len {
            file.set_len(good)?;
            if known.is_none() {
                crate::warn!(
                    "cdr file ended in part of a row, cut off",
                    path = path.display(),
                    bytes = len - good
                );
            }
        }
        if good == 0 {
            file.write_all(format!("{HEADER}\n").as_bytes())?;
            good = HEADER.len() as u64 + 1;
        }
        self.good = Some((path.clone(), good));
        Ok((hour, path, file))
    }

    /// Closes the current file with an fsync.
    fn close(&mut self) -> io::Result<()> {
        match self.current.take() {
            Some((_, path, file)) => {
                file.sync_all().map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
            }
            None => Ok(()),
        }
    }
}

/// Whether `file` is still what `path` names.
fn fate(path: &Path, file: &File) -> io::Result<Fate> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    if open.nlink() == 0 {
        return Ok(Fate::Removed);
    }
    Ok(match std::fs::metadata(path) {
        Ok(named) if (named.dev(), named.ino()) == (open.dev(), open.ino()) => Fate::Kept,
        _ => Fate::Moved,
    })
}

/// The length of `file`'s whole rows: up to and with its last line break.
fn whole_rows(file: &File, len: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_blocks() {
        assert_eq!(billed(0, 6, 6), 0);
        assert_eq!(billed(1, 6, 6), 6);
        assert_eq!(billed(6, 6, 6), 6);
        assert_eq!(billed(7, 6, 6), 12);
        assert_eq!(billed(61, 60, 60), 120);
        assert_eq!(billed(61, 30, 6), 66);
        assert_eq!(billed(5, 0, 1), 5);
        assert_eq!(billed(7, 0, 6), 12);
    }

    #[test]
    fn control_characters_are_written_as_percent_escapes() {
        let mut out = String::new();
        push_escaped(&mut out, "1212\u{0}555\u{1b}1212");
        assert_eq!(out, "1212%00555%1B1212");
        out.clear();
        push_escaped(&mut out, "a,\u{7f}\"b\"");
        assert_eq!(out, "\"a,%7F\"\"b\"\"\"");
        // C1 controls too (U+0085 ends a line for some readers): the code point.
        out.clear();
        push_escaped(&mut out, "1\u{85}2\t3");
        assert_eq!(out, "1%852\t3");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_478_400_123), "2026-11-24T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_709_164_800_000 + 3_661_000), "2024-02-29T01:01:01.000Z");
    }

    #[test]
    fn row_has_every_column() {
        let rate = Rate::parse("0.012").unwrap();
        let cdr = Cdr {
            a_call_id: "a,1@x".into(),
            customer: "cust".into(),
            gateways_tried: vec!["v1".into(), "v2".into()],
            customer_rate: Some((rate, 6, 6)),
            setup_ms: 1_795_478_400_000,
            answer_ms: Some(1_795_478_401_000),
            end_ms: 1_795_478_408_500,
            final_code: 200,
            hangup: Some(HangUp::Callee),
            ..Cdr::default()
        };
        let row = cdr.to_csv();
        assert_eq!(
            csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(row.as_bytes())
                .records()
                .next()
                .unwrap()
                .unwrap()
                .len(),
            HEADER.split(',').count()
        );
        assert!(row.starts_with("\"a,1@x\",,cust,,,v1|v2,"), "{row}");
        // 7.5 s → 8 s talk, billed 12 s at 0.012/min = 0.0024.
        assert!(row.contains(",8,12,,0.0024,,200,callee"), "{row}");
    }

    #[test]
    fn row_is_exact() {
        let rate = |r| Rate::parse(r).unwrap();
        let cdr = Cdr {
            a_call_id: "a1".into(),
            b_call_id: "b\"1".into(),
            customer: "c".into(),
            source: "127.0.0.2:5060".into(),
            gateway: "v,2".into(),
            gateways_tried: vec!["v1".into(), "v,2".into()],
            caller: "2125550000".into(),
            dialed: "13105551212".into(),
            routed: "3105551212".into(),
            lrn: "6465550000".into(),
            lrn_source: "dip:x".into(),
            dip_ms: Some(12),
            customer_rate: Some((rate("0.012"), 6, 6)),
            vendor_rate: Some((rate("0.006"), 60, 60)),
            setup_ms: 1_795_478_400_000,
            answer_ms: Some(1_795_478_401_000),
            end_ms: 1_795_478_408_500,
            final_code: 200,
            hangup: Some(HangUp::Caller),
        };
        assert_eq!(
            cdr.to_csv(),
            "a1,\"b\"\"1\",c,127.0.0.2:5060,\"v,2\",\"v1|v,2\",2125550000,13105551212,3105551212,\
             6465550000,dip:x,12,0.012,6,6,0.006,60,60,2026-11-24T00:00:00.000Z,\
             2026-11-24T00:00:01.000Z,2026-11-24T00:00:08.500Z,8,12,60,0.0024,0.006,200,caller"
        );
        let failed = Cdr { final_code: 503, setup_ms: 0, end_ms: 0, ..Cdr::default() };
        assert_eq!(failed.to_csv(), format!(",,,,,,,,,,,,,,,,,,{0},,{0},0,,,,,503,", rfc3339_ms(0)));
    }

    #[test]
    fn writer_writes_everything_and_rotates_hourly() {
        let dir = std::env::temp_dir().join(format!("tandem-cdr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (sink, writer) = CdrWriter::start(&dir).unwrap();
        for i in 0..1000i64 {
            let end = 1_795_478_400_000 + i * 7_200; // 1000 calls over 2 hours
            sink.send(Cdr { a_call_id: format!("c{i}"), end_ms: end, setup_ms: end, ..Cdr::default() });
        }
        drop(sink);
        assert_eq!(writer.finish().unwrap(), 1000);
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let names: Vec<_> =
            files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["cdr-2026-11-24T00.csv", "cdr-2026-11-24T01.csv"]);
        let rows: usize = files.iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count() - 1).sum();
        assert_eq!(rows, 1000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A writer, handed records `0..records`, on a folder for one test whose
    /// hour-00 CDR file (2026-11-24) writes to /dev/full: every write fails
    /// with ENOSPC, as on a full disk. The folder, that file, the sink, the writer.
    fn full_disk(name: &str, records: i64) -> (PathBuf, PathBuf, CdrSink, CdrWriter) {
        assert!(Path::new("/dev/full").exists(), "these tests need /dev/full");
        let (dir, file) = scratch(name);
        std::os::unix::fs::symlink("/dev/full", &file).unwrap();
        let (sink, writer) = CdrWriter::start(&dir).unwrap();
        (0..records).for_each(|i| sink.send(record(i)));
        (dir, file, sink, writer)
    }

    fn record(i: i64) -> Cdr {
        let end = 1_795_478_400_000 + i;
        Cdr { a_call_id: format!("c{i}"), end_ms: end, setup_ms: end, ..Cdr::default() }
    }

    #[test]
    fn a_full_disk_holds_the_records_until_they_can_be_written() {
        let (dir, file, sink, writer) = full_disk("full", 100);
        std::thread::sleep(RETRY_PAUSE * 4);
        assert!(!writer.handle.is_finished(), "the writer waits for the disk");
        std::fs::remove_file(&file).unwrap(); // room again: the next try makes a real file
        // Enough to be written in several pieces (BATCH_BYTES).
        (100..20_000).for_each(|i| sink.send(record(i)));
        drop(sink);
        assert_eq!(writer.finish().unwrap(), 20_000);
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        let ids: Vec<&str> = lines[1..].iter().map(|l| l.split(',').next().unwrap()).collect();
        assert!(text.len() > BATCH_BYTES, "{}", text.len());
        let want: Vec<String> = (0..20_000).map(|i| format!("c{i}")).collect();
        assert_eq!(ids, want, "every record once, in order");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_past_the_memory_cap_wait_in_the_channel_and_none_is_dropped() {
        let n = MAX_WAITING as i64 * 3;
        let (dir, file, sink, writer) = full_disk("cap", n);
        std::thread::sleep(RETRY_PAUSE * 4);
        assert!(!writer.handle.is_finished());
        std::fs::remove_file(&file).unwrap();
        drop(sink);
        assert_eq!(writer.finish().unwrap(), n as u64);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count() as i64, n + 1, "the header and every record");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_disk_still_full_at_shutdown_is_an_error_after_the_last_tries() {
        let (dir, _, sink, writer) = full_disk("stillfull", 3);
        drop(sink);
        let e = writer.finish().expect_err("nowhere to write");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_last_tries_count_from_shutdown_not_from_the_start_of_the_failure() {
        let (dir, file, sink, writer) = full_disk("lasttries", 3);
        std::thread::sleep(RETRY_PAUSE * (FINAL_TRIES + 5)); // failing longer than the last tries take
        drop(sink);
        std::thread::sleep(RETRY_PAUSE * 3);
        std::fs::remove_file(&file).unwrap(); // room again during the last tries
        assert_eq!(writer.finish().unwrap(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn rows(from: i64, to: i64) -> VecDeque<(i64, String)> {
        (from..to).map(|i| row(record(i))).collect()
    }

    /// An empty folder for one test, and the path of its hour-00 CDR file (2026-11-24).
    fn scratch(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("tandem-cdr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cdr-2026-11-24T00.csv");
        (dir, path)
    }

    #[test]
    fn a_file_removed_while_open_gets_its_batch_written_again_to_a_new_one() {
        let (dir, path) = scratch("removed");
        let mut files = Files::default();
        assert_eq!(files.write(&dir, &mut rows(0, 2)).unwrap(), 2);
        std::fs::remove_dir_all(&dir).unwrap(); // the file and its folder
        assert_eq!(files.write(&dir, &mut rows(2, 3)).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{HEADER}\n{}\n", record(2).to_csv()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_moved_away_keeps_its_rows_and_a_new_one_begins() {
        let (dir, path) = scratch("moved");
        let mut files = Files::default();
        assert_eq!(files.write(&dir, &mut rows(0, 2)).unwrap(), 2);
        let moved = dir.join("rotated.csv");
        std::fs::rename(&path, &moved).unwrap();
        assert_eq!(files.write(&dir, &mut rows(2, 3)).unwrap(), 1);
        assert_eq!(files.write(&dir, &mut rows(3, 4)).unwrap(), 1);
        let old = std::fs::read_to_string(&moved).unwrap();
        assert_eq!(old.lines().count(), 4, "header and rows 0-2: {old}");
        let new = std::fs::read_to_string(&path).unwrap();
        assert_eq!(new, format!("{HEADER}\n{}\n", record(3).to_csv()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_earlier_runs_half_row_is_cut_off_before_rows_are_added() {
        let (dir, path) = scratch("halfrow");
        let whole = format!("{HEADER}\n{}\n", record(0).to_csv());
        std::fs::write(&path, format!("{whole}c1,,cu")).unwrap();
        let mut files = Files::default();
        assert_eq!(files.write(&dir, &mut rows(2, 3)).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}{}\n", record(2).to_csv()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_batch_cut_short_is_cut_back_before_it_is_written_again() {
        let (dir, path) = scratch("cut");
        let mut files = Files::default();
        assert_eq!(files.write(&dir, &mut rows(0, 2)).unwrap(), 2);
        let good = std::fs::read_to_string(&path).unwrap();
        // A failed write left half a row; the file is opened again for the retry.
        files.current = None;
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"c2,,cu").unwrap();
        assert_eq!(files.write(&dir, &mut rows(2, 3)).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{good}{}\n", record(2).to_csv()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
