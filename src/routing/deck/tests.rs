use super::*;

fn deck(text: &str) -> Result<Deck, Vec<DeckError>> {
    Deck::parse(Path::new("decks/v.csv"), text.as_bytes())
}

fn at(d: &Deck, number: &str, now: i64) -> Option<(usize, String, u32)> {
    d.lookup(number, now).map(|(len, t)| (len, t.rate.to_string(), t.line))
}

#[test]
fn longest_prefix_wins() {
    let d = deck("prefix,rate,initial,increment\n1,0.01,6,6\n1212,0.0048,6,6\n12125,0.02,60,60\n").unwrap();
    assert_eq!(d.prefixes(), 3);
    assert_eq!(at(&d, "12125551212", 0), Some((5, "0.02".into(), 4)));
    assert_eq!(at(&d, "12124551212", 0), Some((4, "0.0048".into(), 3)));
    assert_eq!(at(&d, "13105551212", 0), Some((1, "0.01".into(), 2)));
    assert_eq!(at(&d, "44207", 0), None);
}

#[test]
fn effective_dates_pick_the_latest_not_in_future() {
    let text = "prefix,rate,initial,increment,effective,description\n\
                1212,0.0050,6,6,2026-01-01,old\n\
                1212,0.0040,6,6,2026-12-01T00:00:00Z,new\n\
                12,0.0100,6,6,,always\n\
                1213,0.0090,6,6,2027-01-01,future only\n";
    let d = deck(text).unwrap();
    let nov = effective::parse("2026-11-24").unwrap();
    let dec = effective::parse("2026-12-02").unwrap();
    assert_eq!(at(&d, "12125551212", nov), Some((4, "0.005".into(), 2)));
    assert_eq!(at(&d, "12125551212", dec), Some((4, "0.004".into(), 3)));
    // 1213's only row is in the future: the shorter prefix 12 applies.
    assert_eq!(at(&d, "12135551212", nov), Some((2, "0.01".into(), 4)));
    let before = effective::parse("2025-01-01").unwrap();
    assert_eq!(at(&d, "12125551212", before), Some((2, "0.01".into(), 4)));
}

#[test]
fn columns_by_name_in_any_order() {
    let d = deck("Rate, Prefix ,increment,initial\n0.5,44,1,30\n").unwrap();
    let (_, t) = d.lookup("4420", 0).unwrap();
    assert_eq!((t.initial, t.increment), (30, 1));
}

#[test]
fn errors_name_file_line_field() {
    let errs =
        deck("prefix,rate,initial,increment\n1,0.01,6,6\n12x,0.01,6,6\n13,abc,6,6\n14,0.01,6\n15,0.01,6,0\n")
            .unwrap_err();
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "decks/v.csv:3: prefix: \"12x\" is not 1..=32 digits",
            "decks/v.csv:4: rate: \"abc\": not a decimal number",
            "decks/v.csv:5: expected 4 fields, got 3",
            "decks/v.csv:6: increment: \"0\" is not whole seconds in 1..=3600",
        ]
    );
}

#[test]
fn duplicates_name_both_lines() {
    let errs = deck("prefix,rate,initial,increment,effective\n1,0.01,6,6,2026-01-01\n2,0.01,6,6,\n1,0.02,6,6,2026-01-01\n")
        .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].to_string(), "decks/v.csv:4: prefix: duplicate of line 2 (same prefix and effective)");
    // Same prefix, different effective: fine.
    deck("prefix,rate,initial,increment,effective\n1,0.01,6,6,2026-01-01\n1,0.02,6,6,2026-02-01\n").unwrap();
}

#[test]
fn bad_headers_and_empty_files() {
    let e = deck("prefix,price,initial,increment\n1,0.01,6,6\n").unwrap_err();
    assert!(e[0].to_string().contains("unknown column \"price\""), "{e:?}");
    assert!(e[1].to_string().contains("missing column \"rate\""), "{e:?}");
    assert!(deck("").unwrap_err()[0].message.contains("empty deck"));
    assert!(deck("prefix,rate,initial,increment\n").unwrap_err()[0].message.contains("no rows"));
    let e = deck("prefix,rate,initial,increment,effective\n1,0.01,6,6,yesterday\n").unwrap_err();
    assert_eq!(e[0].field, "effective");
    let e = deck("prefix,rate,initial,increment\n1,-0.01,6,6\n").unwrap_err();
    assert_eq!((e[0].line, e[0].field), (2, "rate"));
}

#[test]
fn blank_lines_and_bom_are_tolerated() {
    let d = deck("\u{feff}prefix,rate,initial,increment\n\n1,0.01,6,6\n\n").unwrap();
    assert_eq!(d.rows(), 1);
}
