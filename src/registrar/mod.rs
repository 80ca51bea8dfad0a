//! The endpoint registrar (being written).
