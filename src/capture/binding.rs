//! One enabled binding of a run ([`Binding`]): its stream, its sync mode and the state it
//! resumes from. A leaf that every part of the engine reads.

use super::state::BindingState;
use crate::registry::Stream;

/// One enabled binding and where it left off.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) stream: Stream,
    /// Incremental: resume from the state. Full refresh: read everything, keep no cursor.
    pub(crate) incremental: bool,
    pub(crate) state: BindingState,
}
