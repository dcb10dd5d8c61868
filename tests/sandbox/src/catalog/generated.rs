//! stub
use super::{Field, Model};
pub(super) static MODELS: &[Model] = &[];
