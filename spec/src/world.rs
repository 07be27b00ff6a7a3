//! The world state. (being written)
use crate::era::Kernel;
use crate::op::Query;
use crate::outcome::Observation;

#[derive(Clone, Debug)]
pub struct World {
    pub kernel: Kernel,
}

impl World {
    pub fn new(kernel: Kernel) -> World {
        World { kernel }
    }
    pub fn observe(&self, _q: &Query) -> Observation {
        todo!()
    }
    pub fn check_invariants(&self) {}
}
