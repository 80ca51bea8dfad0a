//! Rate decks (SPEC.md §4): CSV `prefix,rate,initial,increment[,effective][,description]`
//! with a header row, loaded into a [`Trie`] for longest-prefix match.
//!
//! A prefix may carry several rows with different `effective` times; at a
//! decision time the latest row not in the future applies. One bad row
//! rejects the whole deck, and every error names the file, line and field.

use super::effective;
use super::money::Rate;
use super::trie::{Trie, TrieBuilder};
use std::fmt;
use std::path::{Path, PathBuf};

/// Errors listed per deck before giving up (a broken 1 M-row file should not print 1 M lines).
const MAX_ERRORS: usize = 50;
/// Longest prefix accepted.
pub const MAX_PREFIX: usize = 32;

/// A located deck problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeckError {
    /// The deck file.
    pub file: PathBuf,
    /// 1-based line (0: the whole file).
    pub line: u64,
    /// The column at fault (empty: the row or the file).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DeckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.field.is_empty()) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (l, true) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            (l, false) => write!(f, "{}:{l}: {}: {}", self.file.display(), self.field, self.message),
        }
    }
}

impl std::error::Error for DeckError {}

/// One priced row of a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tariff {
    /// Unix seconds from which the row applies (`i64::MIN`: always).
    pub effective: i64,
    /// Price per minute.
    pub rate: Rate,
    /// First billing block, seconds.
    pub initial: u32,
    /// Following billing blocks, seconds.
    pub increment: u32,
    /// Line in the deck file.
    pub line: u32,
}

/// A loaded deck: a trie of prefixes, each pointing at its rows sorted by
/// `effective`.
#[derive(Clone, Debug)]
pub struct Deck {
    path: PathBuf,
    trie: Trie,
    tariffs: Vec<Tariff>,
    /// Prefix id `i` owns `tariffs[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
}

/// The columns a deck's header row may name.
#[derive(Clone, Copy, Debug, Default)]
struct Columns {
    prefix: usize,
    rate: usize,
    initial: usize,
    increment: usize,
    effective: Option<usize>,
    count: usize,
}

struct Row {
    prefix_at: u32,
    prefix_len: u8,
    tariff: Tariff,
}

impl Deck {
    /// Reads and checks a deck file.
    pub fn load(path: &Path) -> Result<Deck, Vec<DeckError>> {
        let data = std::fs::read(path).map_err(|e| {
            vec![DeckError { file: path.into(), line: 0, field: "", message: format!("cannot read: {e}") }]
        })?;
        Deck::parse(path, &data)
    }

    /// Parses deck CSV text; `path` names it in errors.
    pub fn parse(path: &Path, data: &[u8]) -> Result<Deck, Vec<DeckError>> {
        Loader { path, errors: Vec::new(), digits: Vec::new(), rows: Vec::new() }.run(data)
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Distinct prefixes.
    pub fn prefixes(&self) -> usize {
        self.trie.len()
    }

    /// Rows (prefix versions).
    pub fn rows(&self) -> usize {
        self.tariffs.len()
    }

    /// Heap bytes of the trie alone.
    pub fn trie_bytes(&self) -> usize {
        self.trie.heap_bytes()
    }

    /// Heap bytes of the trie and the rows.
    pub fn heap_bytes(&self) -> usize {
        self.trie.heap_bytes()
            + self.tariffs.capacity() * std::mem::size_of::<Tariff>()
            + self.starts.capacity() * 4
    }

    /// The tariff for `number` at time `now`: the longest prefix that has a
    /// row in effect, with the matched prefix length.
    pub fn lookup(&self, number: &str, now: i64) -> Option<(usize, &Tariff)> {
        let mut digits = number.as_bytes();
        while let Some(m) = self.trie.longest_match(digits) {
            let id = m.value as usize;
            let versions = &self.tariffs[self.starts[id] as usize..self.starts[id + 1] as usize];
            let in_effect = versions.partition_point(|t| t.effective <= now);
            if in_effect > 0 {
                return Some((m.len, &versions[in_effect - 1]));
            }
            // Every row of this prefix lies in the future: a shorter prefix applies.
            digits = &digits[..m.len.saturating_sub(1)];
            if m.len == 0 {
                break;
            }
        }
        None
    }
}

struct Loader<'p> {
    path: &'p Path,
    errors: Vec<DeckError>,
    digits: Vec<u8>,
    rows: Vec<Row>,
}

impl Loader<'_> {
    fn error(&mut self, line: u64, field: &'static str, message: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(DeckError { file: self.path.into(), line, field, message });
        }
    }

    fn run(mut self, data: &[u8]) -> Result<Deck, Vec<DeckError>> {
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(data);
        let mut record = csv::ByteRecord::new();
        let cols = match rdr.read_byte_record(&mut record) {
            Ok(true) => self.header(&record),
            Ok(false) => None,
            Err(e) => return Err(vec![self.csv_error(&e)]),
        };
        let Some(cols) = cols else {
            if self.errors.is_empty() {
                self.error(1, "", "empty deck: expected a header row prefix,rate,initial,increment".into());
            }
            return Err(self.errors);
        };
        loop {
            match rdr.read_byte_record(&mut record) {
                Ok(true) => self.row(&cols, &record),
                Ok(false) => break,
                Err(e) => {
                    let err = self.csv_error(&e);
                    self.errors.push(err);
                    break;
                }
            }
        }
        if self.rows.is_empty() && self.errors.is_empty() {
            self.error(0, "", "no rows after the header".into());
        }
        self.finish()
    }

    fn csv_error(&self, e: &csv::Error) -> DeckError {
        let line = e.position().map_or(0, |p| p.line());
        DeckError { file: self.path.into(), line, field: "", message: e.to_string() }
    }

    fn header(&mut self, rec: &csv::ByteRecord) -> Option<Columns> {
        let mut cols = Columns { count: rec.len(), ..Columns::default() };
        let mut seen = [false; 4];
        for (i, raw) in rec.iter().enumerate() {
            let name =
                String::from_utf8_lossy(raw).trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
            let slot = match name.as_str() {
                "prefix" => Some((0, &mut cols.prefix)),
                "rate" => Some((1, &mut cols.rate)),
                "initial" => Some((2, &mut cols.initial)),
                "increment" => Some((3, &mut cols.increment)),
                "effective" => {
                    cols.effective = Some(i);
                    None
                }
                "description" => None,
                _ => {
                    self.error(1, "header", format!("unknown column \"{name}\" (expected prefix,rate,initial,increment[,effective][,description])"));
                    None
                }
            };
            if let Some((k, at)) = slot {
                (seen[k], *at) = (true, i);
            }
        }
        for (k, name) in ["prefix", "rate", "initial", "increment"].iter().enumerate() {
            if !seen[k] {
                self.error(1, "header", format!("missing column \"{name}\""));
            }
        }
        self.errors.is_empty().then_some(cols)
    }

    fn row(&mut self, cols: &Columns, rec: &csv::ByteRecord) {
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace)) {
            return; // blank line
        }
        if rec.len() != cols.count {
            return self.error(line, "", format!("expected {} fields, got {}", cols.count, rec.len()));
        }
        let field = |i: usize| std::str::from_utf8(rec.get(i).unwrap_or_default()).map(str::trim);
        match self.parse_row(line, cols, field) {
            Ok(row) => self.rows.push(row),
            Err((name, message)) => self.error(line, name, message),
        }
    }

    fn parse_row<'r>(
        &mut self,
        line: u64,
        cols: &Columns,
        field: impl Fn(usize) -> Result<&'r str, std::str::Utf8Error>,
    ) -> Result<Row, (&'static str, String)> {
        let text = |i: usize, name: &'static str| field(i).map_err(|_| (name, "not UTF-8".to_owned()));
        let prefix = text(cols.prefix, "prefix")?;
        if prefix.is_empty() || prefix.len() > MAX_PREFIX || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(("prefix", format!("\"{prefix}\" is not 1..={MAX_PREFIX} digits")));
        }
        let rate_text = text(cols.rate, "rate")?;
        let rate = Rate::parse(rate_text).map_err(|e| ("rate", format!("\"{rate_text}\": {e}")))?;
        if rate < Rate::ZERO {
            return Err(("rate", format!("\"{rate_text}\" is negative")));
        }
        let initial = seconds(text(cols.initial, "initial")?, 0).map_err(|m| ("initial", m))?;
        let increment = seconds(text(cols.increment, "increment")?, 1).map_err(|m| ("increment", m))?;
        let effective = match cols.effective {
            None => i64::MIN,
            Some(i) => match text(i, "effective")? {
                "" => i64::MIN,
                t => effective::parse(t)
                    .ok_or(("effective", format!("\"{t}\" is not an RFC 3339 date or date-time")))?,
            },
        };
        let prefix_at = self.digits.len() as u32;
        self.digits.extend_from_slice(prefix.as_bytes());
        let tariff = Tariff { effective, rate, initial, increment, line: line as u32 };
        Ok(Row { prefix_at, prefix_len: prefix.len() as u8, tariff })
    }

    fn prefix_of(&self, r: &Row) -> &[u8] {
        &self.digits[r.prefix_at as usize..r.prefix_at as usize + r.prefix_len as usize]
    }

    fn finish(mut self) -> Result<Deck, Vec<DeckError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_unstable_by(|a, b| {
            self.prefix_of(a).cmp(self.prefix_of(b)).then(a.tariff.effective.cmp(&b.tariff.effective))
        });
        let mut builder = TrieBuilder::with_capacity(rows.len());
        let (mut tariffs, mut starts) = (Vec::with_capacity(rows.len()), Vec::new());
        for (i, row) in rows.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| &rows[p]);
            let same_prefix = prev.is_some_and(|p| self.prefix_of(p) == self.prefix_of(row));
            if same_prefix && prev.is_some_and(|p| p.tariff.effective == row.tariff.effective) {
                let first = prev.map_or(0, |p| p.tariff.line);
                let msg = format!("duplicate of line {first} (same prefix and effective)");
                self.error(u64::from(row.tariff.line), "prefix", msg);
                continue;
            }
            if !same_prefix {
                let id = starts.len() as u32;
                starts.push(tariffs.len() as u32);
                if let Err(e) = builder.insert(self.prefix_of(row), id) {
                    self.error(u64::from(row.tariff.line), "prefix", e.to_string());
                }
            }
            tariffs.push(row.tariff);
        }
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.line);
            return Err(self.errors);
        }
        starts.push(tariffs.len() as u32);
        Ok(Deck { path: self.path.into(), trie: builder.build(), tariffs, starts })
    }
}

/// Billing seconds: an integer in `min..=3600`.
fn seconds(s: &str, min: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if (min..=3600).contains(&v) && s.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => Err(format!("\"{s}\" is not whole seconds in {min}..=3600")),
    }
}

#[cfg(test)]
mod tests;
