//! Routing: rate decks in a compressed prefix trie, the VOS3000 routing rules.

pub mod decide;
pub mod deck;
pub mod effective;
pub mod money;
pub mod snapshot;
pub mod trie;
