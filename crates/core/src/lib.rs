//! Capstan's pure core: object identity and inventory, diff and normalization, the sync plan
//! (ordering, waves, prune set), health per kind, and status computation. Does no I/O.

pub mod health;
