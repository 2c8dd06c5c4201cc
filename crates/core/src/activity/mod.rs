//! The activity timeline (CONTRACT.md §10). Not built yet.
