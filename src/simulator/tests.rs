//! HTTP-level tests of the simulated API: a spawned server queried with reqwest.
