//! Property tests for the rate-deck trie (DESIGN.md §3): on random decks whose
//! prefixes collide and nest (digits 0–3 only), the trie agrees with a linear scan.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use tandem::routing::trie::{Match, Trie, TrieBuilder, TrieError};

/// Up to a few thousand prefixes of 1–8 digits from 0–3, each with a value id.
fn deck() -> impl Strategy<Value = BTreeMap<String, u32>> {
    btree_map("[0-3]{1,8}", any::<u32>(), 0..3000)
}

/// Numbers of 0–12 digits over the same alphabet, sometimes with a stray non-digit.
fn numbers() -> impl Strategy<Value = Vec<String>> {
    vec("[0-3]{0,12}|[0-3]{0,6}[a#+][0-3]{0,4}", 1..200)
}

fn build(deck: &BTreeMap<String, u32>) -> Trie {
    let mut builder = TrieBuilder::with_capacity(deck.len());
    for (prefix, &value) in deck {
        builder.insert(prefix.as_bytes(), value).expect("valid prefix");
    }
    builder.build()
}

/// The obvious longest-prefix match: scan every prefix.
fn naive(deck: &BTreeMap<String, u32>, number: &str) -> Option<Match> {
    deck.iter()
        .filter(|(prefix, _)| number.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(prefix, &value)| Match { value, len: prefix.len() })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn longest_match_equals_linear_scan(deck in deck(), numbers in numbers()) {
        let trie = build(&deck);
        for number in &numbers {
            prop_assert_eq!(trie.longest_match(number.as_bytes()), naive(&deck, number), "{}", number);
        }
        for (prefix, &value) in deck.iter().take(200) {
            prop_assert_eq!(trie.longest_match(prefix.as_bytes()), Some(Match { value, len: prefix.len() }));
        }
    }

    #[test]
    fn iter_returns_the_inserted_set(deck in deck()) {
        let trie = build(&deck);
        let all: Vec<(String, u32)> = trie.iter().collect();
        let want: Vec<(String, u32)> = deck.iter().map(|(p, &v)| (p.clone(), v)).collect();
        prop_assert_eq!(trie.len(), deck.len());
        prop_assert_eq!(all, want);
    }

    #[test]
    fn get_is_exact(deck in deck(), probes in vec("[0-3]{1,9}", 1..200)) {
        let trie = build(&deck);
        for probe in &probes {
            prop_assert_eq!(trie.get(probe.as_bytes()), deck.get(probe).copied());
        }
    }

    #[test]
    fn duplicates_keep_the_first(deck in deck(), pick in any::<prop::sample::Index>()) {
        prop_assume!(!deck.is_empty());
        let mut builder = TrieBuilder::new();
        for (prefix, &value) in &deck {
            builder.insert(prefix.as_bytes(), value).expect("valid prefix");
        }
        let (prefix, &first) = deck.iter().nth(pick.index(deck.len())).expect("in range");
        let err = builder.insert(prefix.as_bytes(), first.wrapping_add(1));
        prop_assert_eq!(err, Err(TrieError::Duplicate { prefix: prefix.clone(), first }));
    }
}
