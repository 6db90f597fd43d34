//! Health of live objects: one rule per kind (see `health/`), a generic kstatus rule for every
//! other kind, and worst-of aggregation.
