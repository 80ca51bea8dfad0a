//! The `file` LRN source: CSV `tn,lrn` of 10-digit NANP numbers, for carriers
//! that receive NPAC-style portability extracts. An optional `tn,lrn`
//! header row is skipped. One bad row rejects the file; errors name the line.

use crate::routing::deck::DeckError;
use std::collections::HashMap;
use std::path::Path;

/// Errors listed before giving up.
const MAX_ERRORS: usize = 50;

/// A loaded LRN table.
#[derive(Clone, Debug, Default)]
pub struct LrnFile {
    map: HashMap<u64, u64>,
}

impl LrnFile {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Self, Vec<DeckError>> {
        let data = std::fs::read(path).map_err(|e| vec![err(path, 0, "", format!("cannot read: {e}"))])?;
        Self::parse(path, &data)
    }

    /// Parses CSV text; `path` names it in errors.
    pub fn parse(path: &Path, data: &[u8]) -> Result<Self, Vec<DeckError>> {
        let mut map = HashMap::new();
        let mut first_line: HashMap<u64, u64> = HashMap::new();
        let mut errors = Vec::new();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(data);
        for (i, rec) in rdr.byte_records().enumerate() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    errors.push(err(path, e.position().map_or(0, |p| p.line()), "", e.to_string()));
                    break;
                }
            };
            let line = rec.position().map_or(0, |p| p.line());
            if i == 0 && rec.get(0).is_some_and(|f| f.eq_ignore_ascii_case(b"tn")) {
                continue;
            }
            match row(&rec) {
                Ok((tn, lrn)) => match first_line.insert(tn, line) {
                    Some(first) => errors.push(err(path, line, "tn", format!("duplicate of line {first}"))),
                    None => {
                        map.insert(tn, lrn);
                    }
                },
                Err((field, msg)) => errors.push(err(path, line, field, msg)),
            }
            if errors.len() >= MAX_ERRORS {
                break;
            }
        }
        if errors.is_empty() { Ok(LrnFile { map }) } else { Err(errors) }
    }

    /// The LRN of a 10-digit number.
    pub fn get(&self, tn: u64) -> Option<u64> {
        self.map.get(&tn).copied()
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn row(rec: &csv::ByteRecord) -> Result<(u64, u64), (&'static str, String)> {
    if rec.len() != 2 {
        return Err(("", format!("expected 2 fields (tn,lrn), got {}", rec.len())));
    }
    let tn = nanp(rec.get(0).unwrap_or_default()).ok_or_else(|| ("tn", bad(rec.get(0))))?;
    let lrn = nanp(rec.get(1).unwrap_or_default()).ok_or_else(|| ("lrn", bad(rec.get(1))))?;
    Ok((tn, lrn))
}

fn bad(field: Option<&[u8]>) -> String {
    format!("\"{}\" is not a 10-digit NANP number", String::from_utf8_lossy(field.unwrap_or_default()))
}

/// A 10-digit NANP number (NPA and NXX start with 2-9), as an integer.
pub fn nanp(b: &[u8]) -> Option<u64> {
    let ok = b.len() == 10 && b.iter().all(u8::is_ascii_digit) && b[0] >= b'2' && b[3] >= b'2';
    ok.then(|| b.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn err(path: &Path, line: u64, field: &'static str, message: String) -> DeckError {
    DeckError { file: path.into(), line, field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_with_or_without_header() {
        let f =
            LrnFile::parse(Path::new("lrn.csv"), b"tn,lrn\n2125551212,2125550000\n3105551212, 3105550000\n")
                .unwrap();
        assert_eq!(f.get(2125551212), Some(2125550000));
        assert_eq!(f.get(3105551212), Some(3105550000));
        assert_eq!(f.len(), 2);
        assert!(LrnFile::parse(Path::new("lrn.csv"), b"2125551212,2125550000\n").is_ok());
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = LrnFile::parse(
            Path::new("lrn.csv"),
            b"tn,lrn\n2125551212,2125550000\n12125551212,2125550000\n2125551212,3105550000\n4155551212\n",
        )
        .unwrap_err();
        let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "lrn.csv:3: tn: \"12125551212\" is not a 10-digit NANP number",
                "lrn.csv:4: tn: duplicate of line 2",
                "lrn.csv:5: expected 2 fields (tn,lrn), got 1",
            ]
        );
    }
}
