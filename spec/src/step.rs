use crate::{Op, Outcome, World};
pub fn step(_w: &mut World, _op: &Op) -> Outcome {
    todo!()
}
