//! Path-compressed digit trie (placeholder until written).
