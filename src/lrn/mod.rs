//! Number portability (SPEC.md §3): LRN sources and, later, the shared-memory cache.

pub mod cache;
pub mod file;
