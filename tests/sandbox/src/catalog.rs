//! The Manage field catalogue: which fields each model has, their wire types, required lists, max
//! lengths and enums, as the spec files in `shared/connectwise/` give them.
//!
//! Compiled in (see `catalog/generated.rs`) so the binary needs no spec files at run time; a test
//! keeps it equal to the spec files.

#[rustfmt::skip]
mod generated;

/// One model of the Manage API (for example `Ticket` or `BoardReference`).
#[derive(Debug)]
pub struct Model {
    pub name: &'static str,
    pub required: &'static [&'static str],
    pub fields: &'static [Field],
}

/// One property of a model, with its wire name.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    /// As in the models catalogue: `string`, `string/date-time`, `integer/int32`, `number/double`,
    /// `boolean`, `object`, `object<string,string>`, `array<X>` or another model's name.
    pub ty: &'static str,
    pub max_len: Option<u32>,
    pub enum_values: &'static [&'static str],
}

/// The model called `name`, if the sandbox knows it.
pub fn model(name: &str) -> Option<&'static Model> {
    generated::MODELS
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &generated::MODELS[i])
}

impl Model {
    /// The field with this wire name (exact case, as the wire uses).
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Case-insensitive lookup, for conditions and orderBy (the server matches fields loosely).
    pub fn field_ci(&self, name: &str) -> Option<&'static Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

impl Field {
    /// The model this field points to, for references, nested objects and arrays of them.
    pub fn target(&self) -> Option<&'static Model> {
        let inner = self
            .ty
            .strip_prefix("array<")
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(self.ty);
        model(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_references() {
        let ticket = model("Ticket").unwrap();
        assert_eq!(ticket.required, &["summary", "company"]);
        assert_eq!(ticket.field("summary").unwrap().max_len, Some(100));
        let board = ticket.field("board").unwrap().target().unwrap();
        assert_eq!(board.name, "BoardReference");
        assert!(board.field("name").is_some());
        assert!(ticket.field_ci("CLOSEDFLAG").is_some());
        assert!(model("Company.Configuration").is_some());
        assert!(model("NoSuchModel").is_none());
        let level = model("Priority").unwrap().field("level").unwrap();
        assert_eq!(level.enum_values, &["Critical", "High", "Medium", "Low"]);
    }
}
