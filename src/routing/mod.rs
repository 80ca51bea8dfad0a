//! Routing: rate decks in a compressed prefix trie, the VOS3000 routing rules.

pub mod money;
pub mod trie;
